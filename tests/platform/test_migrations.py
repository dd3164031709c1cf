"""The schema comes only from migrations, and they match the models exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlmodel import SQLModel

from models.common.caller import Caller
from models.common.history import record_change
from models.common.tokens import ApiToken, Principal, hash_token
from models.common.types import utcnow
from models.trades.trades import Trade
from tests.factories import make_customer, make_quote, make_trade
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
    token = "tp_minted_before_the_kinds"
    with db.write() as session:  # as 0001's code minted it: kind "api"
        session.add(
            ApiToken(
                token_hash=hash_token(token),
                display_prefix=token[:10],
                tenant_id="TEN123",
                user_id="USR456",
                kind="api",
                created_at=utcnow(),
            )
        )
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
    with db.read() as session:  # the user-bound token of a trades tenant: a trade API token
        assert session.execute(text("SELECT kind FROM api_tokens")).scalar_one() == "trades"
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


def test_0011_gives_every_existing_token_the_surface_it_was_used_on(tmp_path: Path) -> None:
    """Issue 26, High 2: the rules in migrations/versions/0011_credential_kinds.py, one
    token per rule. The rows are made at head by the factories with the kinds of before
    (``api``, ``login``), the schema taken down to 0010, then up again through 0011."""
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    db = Database(engine)
    migrate.upgrade(db.write_engine)
    make_trade(db, tenant="TEN123", user="USR456")
    make_trade(db, tenant="MIXED", user="u")
    make_quote(db, "CLIENT1")
    make_quote(db, "MIXED")
    make_customer(db, tenant="CUST1", user="example_user", password="long enough password")
    tokens = {
        # name: (old kind, tenant, user, surface its history shows it wrote on)
        "login": ("login", "CUST1", "example_user", None),
        "customer's CLI key": ("api", "CUST1", "example_user", None),
        "user token that wrote trades": ("api", "TEN123", "USR456", "trade"),
        "user token, no history": ("api", "TEN9", "somebody", None),
        "tenant-wide, trades tenant": ("api", "TEN123", None, None),
        "tenant-wide, offsets client": ("api", "CLIENT1", None, None),
        "tenant-wide, wrote offsets, mixed tenant": (
            "api",
            "MIXED",
            None,
            "offset_purchase",
        ),
        "tenant-wide, mixed tenant": ("api", "MIXED", None, None),
        "tenant-wide, no data": ("api", "NEW", None, None),
    }
    ids = {}
    with db.write() as session:
        for name, (kind, tenant, user, _wrote) in tokens.items():
            row = ApiToken(
                token_hash=hash_token(name),
                display_prefix="tp_x",
                tenant_id=tenant,
                user_id=user,
                kind=kind,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            ids[name] = row.id
    with db.write() as session:
        for name, (_kind, tenant, user, wrote) in tokens.items():
            if wrote is not None:
                record_change(
                    session,
                    resource_type=wrote,
                    resource_id="r",
                    tenant_id=tenant,
                    version=1,
                    caller=Caller(Principal(ids[name], tenant, user, None)),
                    before=None,
                    after={},
                )
    downgrade(db, "0010")
    migrate.upgrade(db.write_engine)

    def kinds() -> dict[str, str]:
        with db.read() as session:
            return {name: session.get(ApiToken, ids[name]).kind for name in tokens}  # type: ignore[union-attr]

    assert kinds() == {
        "login": "strategies",
        "customer's CLI key": "strategies",
        "user token that wrote trades": "trades",
        "user token, no history": "trades",
        "tenant-wide, trades tenant": "trades",
        "tenant-wide, offsets client": "offsets",
        "tenant-wide, wrote offsets, mixed tenant": "offsets",
        "tenant-wide, mixed tenant": "trades+offsets",
        "tenant-wide, no data": "trades+offsets",
    }
    downgrade(db, "0010")
    assert set(kinds().values()) == {"login", "api"}
    assert kinds()["login"] == "login"
    engine.dispose()


def downgrade(db: Database, revision: str) -> None:
    with db.write_engine.begin() as connection:
        config = migrate._config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
