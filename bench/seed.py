"""Databases for the benchmark: migrated by the service's own migrations, then filled.

Every variant gets its own database with the same rows: ``rows`` trades of tenant TEN123
(user USR456), ``rows`` purchases of customer CUST1/example_user, and one API token per
surface, user-bound where the surface has users (only its SHA-256 digest is stored, as the
service does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from models.common.caller import Caller
from models.common.tokens import OFFSETS, STRATEGIES, TRADES, mint_token
from models.strategies import purchases as strategies
from models.strategies import retailers
from models.trades import trades
from tradepost.db import Database, create_db_engine
from tradepost.ops import migrate
from tradepost.settings import Settings

TRADE_TENANT, TRADE_USER = "TEN123", "USR456"
STRATEGY_TENANT, STRATEGY_USER = "CUST1", "example_user"


@dataclass
class Seeded:
    url: str
    trade_token: str
    strategy_token: str
    offsets_token: str
    trade_ids: list[str] = field(default_factory=list)
    purchase_ids: list[str] = field(default_factory=list)

    def write_ids(self, directory: Path, name: str) -> dict[str, Path]:
        files = {
            "trades": directory / f"{name}-trades.txt",
            "strategies": directory / f"{name}-purchases.txt",
        }
        files["trades"].write_text("\n".join(self.trade_ids) + "\n")
        files["strategies"].write_text("\n".join(self.purchase_ids) + "\n")
        return files


def recreate_postgres(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def seed(url: str, rows: int) -> Seeded:
    """Migrate ``url`` to head and fill it; PostgreSQL databases are recreated first."""
    if url.startswith("postgresql"):
        recreate_postgres(url)
    db = Database(create_db_engine(Settings(database_url=url)))
    try:
        migrate.upgrade(db.write_engine)
        with db.write() as session:
            trade_token, _ = mint_token(
                session, kind=TRADES, tenant_id=TRADE_TENANT, user_id=TRADE_USER
            )
            strategy_token, _ = mint_token(  # the customer's token, as its login mints it
                session, kind=STRATEGIES, tenant_id=STRATEGY_TENANT, user_id=STRATEGY_USER
            )
            offsets_token, _ = mint_token(session, kind=OFFSETS, tenant_id=TRADE_TENANT)
            seeded = Seeded(url, trade_token, strategy_token, offsets_token)
            seller = Caller.for_tenant(TRADE_TENANT).naming(TRADE_TENANT, TRADE_USER, "US")
            owner = Caller.for_tenant(STRATEGY_TENANT)
            retailers.add_retailer(
                session, tenant_id=STRATEGY_TENANT, user_id=STRATEGY_USER, retailer_id="123"
            )
            for i in range(rows):
                trade = trades.create_trade(
                    session,
                    seller,
                    {
                        "product_id": f"prod{i}",
                        "description": "Quality crude oil",
                        "quantity": Decimal(1000 + i),
                        "indicative_unit_price": Decimal("54.5"),
                        "product_unit_type": "Barrels",
                        "doc_links": [
                            {"name": "Contract", "link": "https://example.com/contract.pdf"}
                        ],
                    },
                )
                seeded.trade_ids.append(trade["id"])
                purchase = strategies.submit_purchase(
                    session,
                    owner,
                    STRATEGY_USER,
                    [{"datetime": "2025-01-15 00:00", "purchase": 12.5}],
                    retailer_id="123",
                )
                seeded.purchase_ids.append(purchase.id)
    finally:
        db.dispose()
    return seeded
