"""Two tenants on each surface, with two users in the first, and a valid request per write.

``World`` is what the authorization, hostile-input and sharp-edge matrices act on: the
first tenant owns one trade, one Strategies purchase (alice, a customer of retailer 123,
as is CUSTB's bob) and one carbon-offset purchase (with
an external reference and a certificate file), the second tenant owns its own. CLIENTA also
holds an unused quote, for its legitimate ``createPurchase``; the product catalogue (one
default product) is shared by every client; CLIENTA and CLIENTB have a webhook each. TENA
and TENB also hold a pending trade request and a tracking of their trade (one leg) each.
``WRITES`` says, for each write operation, how to reach it legitimately (in an order in
which all of them succeed one after the other on one world); each matrix then
spoils one thing about that request. A new write operation is one more entry here. A body
is a function of the world (a purchase is created from a quote the world holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.common.caller import Caller
from models.common.tokens import OFFSETS, STRATEGIES, TRADES, mint_token
from models.offsets import purchases as offsets
from models.offsets import webhooks
from models.strategies.customers import Customer
from tests.factories import (
    TEST_PRODUCT,
    make_customer,
    make_offset_purchase,
    make_quote,
    make_strategy_purchase,
    make_tracking,
    make_trade,
    make_trade_request,
)
from tradepost.db import Database

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a much longer passphrase"


@dataclass(frozen=True, slots=True)
class World:
    trade_id: str  # TENA's, owned by alice
    other_trade_id: str  # TENB's, owned by bob
    purchase_id: str  # CUSTA's, owned by alice
    other_purchase_id: str  # CUSTB's, owned by bob
    tokens: dict[str, str]  # "TENA/alice", "TENA", "CUSTA/alice", "CLIENTA", ... (build_world)
    offset_purchase_id: str  # CLIENTA's carbon-offset purchase
    offset_reference: str  # its external_reference, which addresses it too
    offset_file_id: str  # its certificate's file
    other_offset_purchase_id: str  # CLIENTB's
    quote_id: str  # CLIENTA's quote, for the legitimate createPurchase
    product_id: str  # the catalogue's (default) product, the same for every client
    webhook_id: str  # CLIENTA's webhook
    other_webhook_id: str  # CLIENTB's
    request_id: str  # TENA's trade request (alice's), PENDING
    other_request_id: str  # TENB's
    tracking_id: str  # TENA's tracking of alice's trade, one leg (carrier id LEG)
    other_tracking_id: str  # TENB's


OFFSET_REFERENCE = "order-CLIENTA-0001"


BUYER = "BUYA"  # the buyer TENA's trade names, whose public link accepts it
LEG = "TRACK123"  # the carrier trackingId of the one leg of each world tracking


def build_world(db: Database) -> World:
    trade = make_trade(db, tenant="TENA", user="alice", buyer_id=BUYER)
    other_trade = make_trade(db, tenant="TENB", user="bob", buyer_id="BUYB")
    purchase = make_strategy_purchase(db, tenant="CUSTA", user="alice")
    other_purchase = make_strategy_purchase(db, tenant="CUSTB", user="bob")
    alice = make_customer(
        db, tenant="CUSTA", user="alice", email="alice@example.com", password=PASSWORD
    )
    with db.write() as session:  # carol changes her password (alice's hash: no Argon2 cost)
        session.add(
            Customer(
                tenant_id="CUSTA",
                username="carol",
                email="carol@example.com",
                password_hash=alice.password_hash,
                created_at=alice.created_at,
            )
        )
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
                Caller.for_tenant(client),
                {"kind": "order", "endpoint_url": f"https://hooks.example.com/{client}"},
            ).id
            for client in ("CLIENTA", "CLIENTB")
        ]
    tokens = {}
    principals = [  # name: (kind, tenant, user)
        ("TENA/alice", TRADES, "TENA", "alice"),
        ("TENA/amy", TRADES, "TENA", "amy"),
        ("TENA", TRADES, "TENA", None),
        ("TENB/bob", TRADES, "TENB", "bob"),
        ("TENB", TRADES, "TENB", None),
        # Strategies tokens are the customers' own, as their login mints them.
        ("CUSTA/alice", STRATEGIES, "CUSTA", "alice"),
        ("CUSTA/amy", STRATEGIES, "CUSTA", "amy"),
        ("CUSTA/carol", STRATEGIES, "CUSTA", "carol"),
        ("CUSTB/bob", STRATEGIES, "CUSTB", "bob"),
        # Carbon-offset API keys belong to a client; CLIENTA has two.
        ("CLIENTA", OFFSETS, "CLIENTA", None),
        ("CLIENTA/second key", OFFSETS, "CLIENTA", None),
        ("CLIENTB", OFFSETS, "CLIENTB", None),
    ]
    with db.write() as session:
        for name, kind, tenant, user in principals:
            tokens[name], _ = mint_token(session, kind=kind, tenant_id=tenant, user_id=user)
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
        TEST_PRODUCT,
        *hooks,
        make_trade_request(db, "TENA", "alice", requestId="REQA-1").id,
        make_trade_request(db, "TENB", "bob", requestId="REQB-1").id,
        make_tracking(db, trade.id, "TENA", "alice").id,
        make_tracking(db, other_trade.id, "TENB", "bob").id,
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
CAR_BASIC = {
    "type": "car",
    "methodology": "BASIC",
    "distance_in_km": 245.6,
    "co2_grams_per_km": 120,
}

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
    # The reference's sub-resource pages, each with a body in its documented shape.
    "updateTradeDocuments": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/documents",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"docLinks": [{"name": "Contract", "link": "https://example.com/c.pdf"}]},
    ),
    "updateTradeTestingDetails": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/testing-details",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"provider": "SGS", "productTypeDetails": ["Raw cashew nuts"]},
    ),
    "updateTradePaymentDetails": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/payment-details",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"splits": [{"name": "Deposit", "type": "PERCENTAGE", "value": 30}]},
    ),
    "updateTradeDeliveryDetails": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/delivery-details",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"portInfo": "Port of Lagos", "shippingTerms": "FOB"},
    ),
    "updateTradeTermsConditions": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/terms-conditions",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"termsAndConditions": "Payment within 30 days of delivery."},
    ),
    "changeTradeStatus": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/status",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"status": "NEGOTIABLE"},
    ),
    # The trade families (trades-families.md): each repeatable on one world.
    "createTradeRequest": Write(
        "POST",
        lambda w: "/api/trade-requests",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"productId": "prd123", "quantity": 100, "testingRequired": True},
    ),
    "updateTradeRequestApprovalStatus": Write(
        "POST",
        lambda w: f"/api/trade-requests/approval-status/{w.request_id}",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"tradeId": w.trade_id, "status": "ACCEPTED", "comment": "Approval granted"},
    ),
    "createTradeTracking": Write(
        "POST",
        lambda w: "/api/v1/trade-trackings",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {
            "tradeId": w.trade_id,
            "deliveredQuantity": 100,
            "itenary": [{"trackingId": "TRACK9", "origin": "Lagos", "destination": "Accra"}],
        },
    ),
    "updateTradeTracking": Write(
        "PATCH",
        lambda w: f"/api/v1/trade-trackings/{w.tracking_id}",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"deliveredQuantity": 50},
    ),
    "updateTradeTrackingStatus": Write(
        "PATCH",
        lambda w: f"/api/v1/trade-trackings/{w.tracking_id}/status",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"status": "IN_TRANSIT"},
    ),
    "updateTradeTrackingItinerary": Write(
        "PATCH",
        lambda w: f"/api/v1/trade-trackings/{w.tracking_id}/reference/{LEG}/itenary",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"deliveryMode": "Sea", "qualityChecked": True},
    ),
    "updateTradeTrackingFinances": Write(
        "PATCH",
        lambda w: "/api/v1/trade-tracking-pipeline/finances",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"trade": w.trade_id, "processFlow": "FLOW456", "amount": 1000},
    ),
    "confirmTradeTrackingPayment": Write(
        "PATCH",
        lambda w: "/api/v1/trade-tracking-pipeline/finances/confirm-payment",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"trade": w.trade_id, "processFlow": "FLOW456", "status": True},
    ),
    "approveTradeTrackingSampling": Write(
        "PATCH",
        lambda w: "/api/v1/trade-tracking-pipeline/sampling/approval",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"trade": w.trade_id, "processFlow": "FLOW456", "testResult": "Passed"},
    ),
    "approveTradeProcessFlow": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/process-flows/approval",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"reason": "Approved after review", "status": "ACCEPTED"},
    ),
    # Last of the trade writes: a terminated trade refuses every later change (409).
    "terminateTrade": Write(
        "PATCH",
        lambda w: f"/api/v1/trades/{w.trade_id}/terminate",
        lambda w: trade_headers(w, "TENA/alice", "TENA", "alice"),
        lambda w: {"comment": "The buyer withdrew."},
    ),
    "strategiesLogin": Write(
        "POST",
        lambda w: "/api/v0/auth/login/",
        lambda w: {},
        lambda w: {"email": "alice@example.com", "password": PASSWORD},
    ),
    # carol's (a new password may not be the current one, and the change revokes the
    # customer's login tokens: alice's stay valid for the writes after it).
    "changeStrategiesPassword": Write(
        "POST",
        lambda w: "/api/v0/auth/password/",
        lambda w: bearer(w, "CUSTA/carol"),
        lambda w: {
            "old_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirmation": NEW_PASSWORD,
        },
    ),
    "submitStrategyPurchase": Write(
        "POST",
        lambda w: "/api/v0/user/alice/submit-purchase?retailer_id=123",
        lambda w: bearer(w, "CUSTA/alice"),
        lambda w: {"purchase": [ROW]},
    ),
    "submitStrategyPurchaseForRetailer": Write(
        "POST",
        lambda w: "/api/v0/user/alice/submit-purchase/123",
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
    # A smaller merge patch than the document's example (tests/offsets/test_purchases.py
    # sends that).
    "updatePurchase": Write(
        "PATCH",
        lambda w: f"/v2/purchases/{w.offset_purchase_id}",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {
            "certificate_document": {"full_name": "Alice Liddell", "flags": ["with_attribution"]},
            "metadata": {"order": "4712"},
        },
    ),
    # The webhooks reference's own examples (tests/offsets/test_webhooks.py sends them verbatim).
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
    # The calculations (stateless; the one with pricing writes a quote): the docs' examples.
    "createCalculation": Write(
        "POST",
        lambda w: "/v2/calculations",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {"items": [CAR_BASIC], "carbon_unit": "gram", "expand": ["items"]},
    ),
    "createCalculationWithPricing": Write(
        "POST",
        lambda w: "/v2/calculations-with-pricing",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {"items": [CAR_BASIC], "product": w.product_id, "currency": "EUR"},
    ),
    "createCarbonComparison": Write(
        "POST",
        lambda w: "/v2/carbon-comparison",
        lambda w: bearer(w, "CLIENTA"),
        lambda w: {
            "carbon_quantity": 2000,
            "carbon_unit": "tonne",
            "items": [{"metric": "annual_usage", "comparison_unit": "cars"}],
        },
    ),
}
