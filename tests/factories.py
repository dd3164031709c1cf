"""Rows made directly through the domain layer, for tests that exercise another operation."""

from __future__ import annotations

import functools
from datetime import timedelta
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from sqlmodel import select

from models.common.caller import Caller
from models.offsets import catalogue as offset_catalogue
from models.offsets import purchases as offsets
from models.offsets import quotes as offset_quotes
from models.offsets.catalogue import OffsetProduct
from models.offsets.purchases import OffsetPurchase
from models.offsets.quotes import OffsetQuote, PriceList
from models.strategies import purchases as strategies
from models.strategies import retailers as retailer_rows
from models.strategies.customers import Customer, create_customer
from models.strategies.purchases import StrategyPurchase
from models.trades import requests as trade_requests
from models.trades import trackings as trade_trackings
from models.trades import trades
from models.trades.requests import TradeRequest
from models.trades.trackings import TradeTracking
from models.trades.trades import Trade
from tradepost.db import Database

RETAILER = "123"  # the documents' example retailer id


def trade_caller(tenant: str, user: str, country: str = "US") -> Caller:
    """A tenant-wide caller acting as ``user``, as the trade API's headers name one
    (factories bypass tokens)."""
    return Caller.for_tenant(tenant).naming(tenant, user, country)


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
        row = trades.create_trade(session, trade_caller(tenant, user), fields)
    return load_trade(db, row["id"])


def load_trade(db: Database, trade_id: str) -> Trade:
    with db.read() as session:
        return session.exec(select(Trade).where(Trade.id == trade_id)).one()


def make_trade_request(
    db: Database, tenant: str = "TEN123", user: str = "BUY321", **values: Any
) -> TradeRequest:
    """A ``PENDING`` request (``values`` in the API's names, e.g. ``requestId``)."""
    fields: dict[str, Any] = {"productId": "prd123", "quantity": Decimal("100"), **values}
    with db.write() as session:
        return trade_requests.create_request(session, trade_caller(tenant, user), values=fields)


def make_tracking(
    db: Database, trade_id: str, tenant: str = "TEN123", user: str = "USR456", **values: Any
) -> TradeTracking:
    """A tracking of ``trade_id`` with one leg (carrier id ``TRACK123``) unless told."""
    fields: dict[str, Any] = {
        "tradeId": trade_id,
        "itenary": [{"trackingId": "TRACK123", "origin": "Lagos", "destination": "Rotterdam"}],
        **values,
    }
    with db.write() as session:
        return trade_trackings.create_tracking(session, trade_caller(tenant, user), values=fields)


# Argon2id at its lowest cost, for the customers tests make (as Django's documentation
# advises a fast hasher for tests): a hash carries its own parameters and the service
# verifies it with the same code and library whatever they are, but each login then
# costs microseconds instead of ~170 ms of CPU (160 logins were 27 of 164 CPU-s in the
# Strategies, authorisation and hostile tests). What the service itself hashes (password
# changes, `tradepost customers create`) and the unknown-email dummy keep the
# production parameters (tests/strategies/test_strategies.py checks the dummy's), and
# the login flood test sends unknown emails, which cost a full verification each.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@functools.cache
def password_hash(password: str) -> str:
    """The stored hash of a test customer's password (``FAST_HASHER``), once per password
    and process: it verifies the same whichever database it is copied into."""
    return FAST_HASHER.hash(password)


def make_customer(
    db: Database,
    *,
    tenant: str = "CUST1",
    user: str = "example_user",
    email: str = "customer@example.com",
    password: str = "correct horse battery staple",
    name: str = "Example Energy",
    retailers: tuple[str, ...] = (RETAILER,),
) -> Customer:
    with db.write() as session:
        return create_customer(
            session,
            tenant_id=tenant,
            username=user,
            email=email,
            password_hash=password_hash(password),
            name=name,
            retailer_ids=retailers,
        )


def add_retailer(
    db: Database, tenant: str = "CUST1", user: str = "example_user", retailer: str = RETAILER
) -> None:
    with db.write() as session:
        retailer_rows.add_retailer(session, tenant_id=tenant, user_id=user, retailer_id=retailer)


def make_strategy_purchase(
    db: Database,
    tenant: str = "CUST1",
    user: str = "example_user",
    rows: int = 2,
    retailer: str = RETAILER,
) -> StrategyPurchase:
    """A purchase of ``user`` for ``retailer`` (made a retailer of the user if need be)."""
    entries = [{"datetime": f"2025-01-15 {h:02d}:00", "purchase": 10.0 + h} for h in range(rows)]
    owner = Caller.for_tenant(tenant)
    with db.write() as session:
        retailer_rows.add_retailer(session, tenant_id=tenant, user_id=user, retailer_id=retailer)
        return strategies.submit_purchase(session, owner, user, entries, retailer_id=retailer)


def load_strategy_purchase(db: Database, purchase_id: str) -> StrategyPurchase:
    with db.read() as session:
        return session.exec(
            select(StrategyPurchase).where(StrategyPurchase.id == purchase_id)
        ).one()


PRICES = PriceList(
    quote_lifetime=timedelta(days=14), checkout_url="https://checkout.example.com/pay"
)
TEST_PRODUCT = "product_test1"


def make_product(
    db: Database,
    product_id: str = TEST_PRODUCT,
    prices: dict[str, int] | None = None,
    *,
    default: bool = True,
    **values: Any,
) -> OffsetProduct:
    """A catalogue product (the default one unless told) priced per tonne in cents."""
    with db.write() as session:
        product = offset_catalogue.create_product(
            session,
            product_id=product_id,
            title=values.pop("title", "Test forest project"),
            description=values.pop("description", "Protects a test forest."),
            default=default,
            **values,
        )
        for currency, amount in (prices or {"EUR": 1500, "USD": 1650}).items():
            offset_catalogue.add_price(
                session, product_id=product_id, currency=currency, unit_amount=amount
            )
        return product


def _ensure_test_product(db: Database) -> None:
    with db.read() as session:
        exists = offset_catalogue.find_product(session, TEST_PRODUCT) is not None
    if not exists:
        make_product(db)


def make_quote(
    db: Database, tenant: str = "CLIENT1", quantity: str = "42", unit: str = "tonne"
) -> OffsetQuote:
    _ensure_test_product(db)
    with db.write() as session:
        return offset_quotes.create_quote(
            session,
            Caller.for_tenant(tenant),
            PRICES,
            product_id=TEST_PRODUCT,
            quantity=Decimal(quantity),
            unit=unit,
            currency="EUR",
        ).quote


def make_offset_purchase(db: Database, tenant: str = "CLIENT1", **values: Any) -> OffsetPurchase:
    quote = make_quote(db, tenant)
    with db.write() as session:
        purchase, _created = offsets.create_purchase(
            session, Caller.for_tenant(tenant), {"pricing": quote.id, **values}, PRICES
        )
        return purchase


def load_offset_purchase(db: Database, purchase_id: str) -> OffsetPurchase:
    with db.read() as session:
        return session.exec(select(OffsetPurchase).where(OffsetPurchase.id == purchase_id)).one()
