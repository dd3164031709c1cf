"""Two tenants on each surface, with two users in the first, and a valid request per write.

``World`` is what the authorization, hostile-input and sharp-edge matrices act on: the
first tenant owns one trade and one Strategies purchase, the second tenant owns its own.
``WRITES`` says, for each write operation, how to reach it legitimately; each matrix then
spoils one thing about that request. A new write operation is one more entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.tokens import mint_token
from tests.factories import make_customer, make_strategy_purchase, make_trade
from tradepost.db import Database

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True, slots=True)
class World:
    trade_id: str  # TENA's, owned by alice
    other_trade_id: str  # TENB's, owned by bob
    purchase_id: str  # CUSTA's, owned by alice
    other_purchase_id: str  # CUSTB's, owned by bob
    tokens: dict[str, str]  # "TENA/alice", "TENA/amy", "TENB/bob", "TENB", "CUSTA/alice", ...


def build_world(db: Database) -> World:
    trade = make_trade(db, tenant="TENA", user="alice")
    other_trade = make_trade(db, tenant="TENB", user="bob")
    purchase = make_strategy_purchase(db, tenant="CUSTA", user="alice")
    other_purchase = make_strategy_purchase(db, tenant="CUSTB", user="bob")
    make_customer(db, tenant="CUSTA", user="alice", email="alice@example.com", password=PASSWORD)
    tokens = {}
    principals = [
        ("TENA", "alice"),
        ("TENA", "amy"),
        ("TENA", None),
        ("TENB", "bob"),
        ("TENB", None),
        ("CUSTA", "alice"),
        ("CUSTA", "amy"),
        ("CUSTB", "bob"),
        ("CUSTB", None),
    ]
    with db.write() as session:
        for tenant, user in principals:
            tokens[f"{tenant}/{user}" if user else tenant], _ = mint_token(
                session, tenant_id=tenant, user_id=user
            )
    return World(trade.id, other_trade.id, purchase.id, other_purchase.id, tokens)


def trade_headers(world: World, token: str, tenant: str, user: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {world.tokens[token]}",
        "tenantId": tenant,
        "userId": user,
        "countryCode": "US",
    }


def bearer(world: World, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[token]}"}


@dataclass(frozen=True, slots=True)
class Write:
    """A legitimate request to one write operation, by its owner."""

    method: str
    url: Callable[[World], str]
    headers: Callable[[World], dict[str, str]]
    body: dict[str, Any]


ROW = {"datetime": "2025-01-15 00:00", "purchase": 1}

WRITES: dict[str, Write] = {
    "createTrade": Write(
        "POST",
        lambda w: "/api/v1/trades",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        {"productId": "p", "quantity": 1, "indicativeUnitPrice": 1, "productUnitType": "Units"},
    ),
    "updateTrade": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        {"quantity": 2, "description": "Updated quality crude oil"},
    ),
    "strategiesLogin": Write(
        "POST",
        lambda w: "/api/v0/auth/login/",
        lambda w: {},
        {"email": "alice@example.com", "password": PASSWORD},
    ),
    "submitStrategyPurchase": Write(
        "POST",
        lambda w: "/api/v0/user/alice/submit-purchase",
        lambda w: bearer(w, "CUSTA/alice"),
        {"purchase": [ROW]},
    ),
    "updateStrategyPurchase": Write(
        "PUT",
        lambda w: f"/api/v0/user/alice/purchase/{w.purchase_id}/update",
        lambda w: bearer(w, "CUSTA/alice"),
        {"outputs": {"result": "ok", "detail": {"score": 0.95}}},  # the document's curl body
    ),
}
