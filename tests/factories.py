"""Rows made directly through the domain layer, for tests that exercise another operation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import select

from models import trades
from models.tokens import Principal
from models.trades import Trade, TradeContext
from tradepost.db import Database


def tenant_context(tenant: str, user: str, country: str = "US") -> TradeContext:
    """A tenant-wide principal acting as ``user`` (factories bypass tokens)."""
    return TradeContext(Principal(0, tenant, None, None), tenant, user, country)


def make_trade(db: Database, tenant: str = "TEN123", user: str = "USR456", **values: Any) -> Trade:
    fields: dict[str, Any] = {
        "product_id": "prod123",
        "description": "Quality crude oil",
        "quantity": Decimal("1000"),
        "indicative_unit_price": Decimal("54.5"),
        "product_unit_type": "Barrels",
        "doc_links": [{"name": "Contract", "link": "https://example.com/contract.pdf"}],
    }
    fields.update(values)
    with db.write() as session:
        return trades.create_trade(session, tenant_context(tenant, user), fields)


def load_trade(db: Database, trade_id: str) -> Trade:
    with db.read() as session:
        return session.exec(select(Trade).where(Trade.id == trade_id)).one()
