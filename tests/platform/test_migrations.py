"""The schema comes only from migrations, and they match the models exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlmodel import SQLModel

from models.common.tokens import hash_token, mint_token
from models.common.types import utcnow
from models.trades.trades import Trade
from tests.servers import running_server
from tradepost.db import Database, create_db_engine
from tradepost.ops import migrate
from tradepost.settings import Settings


def test_migrations_produce_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrading_from_the_first_migration_keeps_data(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    db = Database(engine)
    migrate.upgrade(db.write_engine, "0001")
    with db.write() as session:
        token, _ = mint_token(session, tenant_id="TEN123", user_id="USR456")
    now = utcnow()
    with db.write_engine.begin() as connection:  # as 0001's code wrote it: no history yet
        connection.execute(
            insert(Trade.__table__),  # type: ignore[attr-defined]
            {
                "id": "6f1c2d8e-8d0b-4c1e-9a55-2f5b7d1f0c3a",
                "tenant_id": "TEN123",
                "user_id": "USR456",
                "country_code": "US",
                "product_id": "prod123",
                "quantity": Decimal("82500.10"),
                "indicative_unit_price": Decimal("1"),
                "total_amount": Decimal("82500.10"),
                "product_unit_type": "Barrels",
                "doc_links": [],
                "version": 1,
                "created_at": now,
                "updated_at": now,
            },
        )
    migrate.upgrade(db.write_engine)
    assert migrate.is_current(engine)
    with db.read() as session:
        digest = session.execute(text("SELECT token_hash FROM api_tokens")).scalar_one()
        quantity = session.execute(
            text("SELECT quantity FROM trades WHERE id = :id"),
            {"id": "6f1c2d8e-8d0b-4c1e-9a55-2f5b7d1f0c3a"},
        ).scalar_one()
    assert digest == hash_token(token)
    assert Decimal(quantity) == Decimal("82500.10")
    engine.dispose()


@pytest.mark.slow
def test_a_server_on_a_new_sqlite_file_migrates_it_before_serving(tmp_path: Path) -> None:
    """The embedded default needs no step of its own: ``tradepost serve`` on a file that
    does not exist yet creates it at the head revision (other server tests start from a
    copy of a migrated file)."""
    path = tmp_path / "new.db"
    with running_server(f"sqlite:///{path}", tmp_path) as server:
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
    engine = create_db_engine(Settings(database_url=f"sqlite:///{path}"))
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == migrate.head()
