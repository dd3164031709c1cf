"""Two tenants on each surface, with two users in the first, and a valid request per write.

``World`` is what the authorization, hostile-input and sharp-edge matrices act on: the
first tenant owns one trade, one Strategies purchase and one carbon-offset purchase (with
an external reference and a certificate file), the second tenant owns its own. CLIENTA also
holds an unused quote, for its legitimate ``createPurchase``; CLIENTA and CLIENTB have a
webhook each.
``WRITES`` says, for each write operation, how to reach it legitimately; each matrix then
spoils one thing about that request. A new write operation is one more entry here. A body
is a function of the world (a purchase is created from a quote the world holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models import offsets, webhooks
from models.tokens import mint_token
from tests.factories import (
    client_principal,
    make_customer,
    make_offset_purchase,
    make_quote,
    make_strategy_purchase,
    make_trade,
)
from tradepost.db import Database

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True, slots=True)
class World:
    trade_id: str  # TENA's, owned by alice
    other_trade_id: str  # TENB's, owned by bob
    purchase_id: str  # CUSTA's, owned by alice
    other_purchase_id: str  # CUSTB's, owned by bob
    tokens: dict[str, str]  # "TENA/alice", "TENA/amy", "TENB/bob", "TENB", "CUSTA/alice", ...
    offset_purchase_id: str  # CLIENTA's carbon-offset purchase
    offset_reference: str  # its external_reference, which addresses it too
    offset_file_id: str  # its certificate's file
    other_offset_purchase_id: str  # CLIENTB's
    quote_id: str  # CLIENTA's unused quote, for the legitimate createPurchase
    webhook_id: str  # CLIENTA's webhook
    other_webhook_id: str  # CLIENTB's


OFFSET_REFERENCE = "order-CLIENTA-0001"


def build_world(db: Database) -> World:
    trade = make_trade(db, tenant="TENA", user="alice")
    other_trade = make_trade(db, tenant="TENB", user="bob")
    purchase = make_strategy_purchase(db, tenant="CUSTA", user="alice")
    other_purchase = make_strategy_purchase(db, tenant="CUSTB", user="bob")
    make_customer(db, tenant="CUSTA", user="alice", email="alice@example.com", password=PASSWORD)
    offset = make_offset_purchase(
        db,
        "CLIENTA",
        external_reference=OFFSET_REFERENCE,
        certificate_document={"full_name": "Alice", "locale": "en"},
    )
    other_offset = make_offset_purchase(db, "CLIENTB", external_reference="order-CLIENTB-0001")
    quote = make_quote(db, "CLIENTA")
    with db.read() as session:
        [offset_file] = offsets.files_of(session, offset)
    with db.write() as session:
        hooks = [
            webhooks.create_webhook(
                session,
                client_principal(client),
                {"kind": "order", "endpoint_url": f"https://hooks.example.com/{client}"},
                request_id=None,
            ).id
            for client in ("CLIENTA", "CLIENTB")
        ]
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
        ("CLIENTA", None),  # carbon-offset API keys: any token of the client's tenant
        ("CLIENTA", "ann"),
        ("CLIENTB", None),
        ("CLIENTB", "bob"),
    ]
    with db.write() as session:
        for tenant, user in principals:
            tokens[f"{tenant}/{user}" if user else tenant], _ = mint_token(
                session, tenant_id=tenant, user_id=user
            )
    return World(
        trade.id,
        other_trade.id,
        purchase.id,
        other_purchase.id,
        tokens,
        offset.id,
        OFFSET_REFERENCE,
        offset_file.id,
        other_offset.id,
        quote.id,
        *hooks,
    )


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
    body: Callable[[World], dict[str, Any]]


ROW = {"datetime": "2025-01-15 00:00", "purchase": 1}

WRITES: dict[str, Write] = {
    "createTrade": Write(
        "POST",
        lambda w: "/api/v1/trades",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {
            "productId": "p",
            "quantity": 1,
            "indicativeUnitPrice": 1,
            "productUnitType": "Units",
        },
    ),
    "updateTrade": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"quantity": 2, "description": "Updated quality crude oil"},
    ),
    "strategiesLogin": Write(
        "POST",
        lambda w: "/api/v0/auth/login/",
        lambda w: {},
        lambda w: {"email": "alice@example.com", "password": PASSWORD},
    ),
    "submitStrategyPurchase": Write(
        "POST",
        lambda w: "/api/v0/user/alice/submit-purchase",
        lambda w: bearer(w, "CUSTA/alice"),
        lambda w: {"purchase": [ROW]},
    ),
    "updateStrategyPurchase": Write(
        "PUT",
        lambda w: f"/api/v0/user/alice/purchase/{w.purchase_id}/update",
        lambda w: bearer(w, "CUSTA/alice"),
        # the document's curl body
        lambda w: {"outputs": {"result": "ok", "detail": {"score": 0.95}}},
    ),
    # Sent again, the same reference and quote answer 200 with the purchase made first.
    "createPurchase": Write(
        "POST",
        lambda w: "/v2/purchases",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {
            "pricing": w.quote_id,
            "external_reference": "order-CLIENTA-0002",
            "metadata": {"order": "4711"},
        },
    ),
    # A smaller merge patch than the document's example (tests/test_offsets.py sends that).
    "updatePurchase": Write(
        "PATCH",
        lambda w: f"/v2/purchases/{w.offset_purchase_id}",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {
            "certificate_document": {"full_name": "Alice Liddell", "flags": ["with_attribution"]},
            "metadata": {"order": "4712"},
        },
    ),
    # The webhooks reference's own examples (tests/test_webhooks.py sends them verbatim).
    "createWebhook": Write(
        "POST",
        lambda w: "/v2/webhooks",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {"kind": "order", "endpoint_url": "https://your-domain.com/webhook-receiver"},
    ),
    "updateWebhook": Write(
        "PUT",
        lambda w: f"/v2/webhooks/{w.webhook_id}",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {"endpoint_url": "https://your-domain.com/new-webhook-receiver"},
    ),
    "patchWebhook": Write(
        "PATCH",
        lambda w: f"/v2/webhooks/{w.webhook_id}",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {"kind": "certificate_document_available"},
    ),
}
