"""Object-level authorization: nobody reaches another's records by id, nothing changes.

The matrix has a row for every way a principal of one tenant (or another user of the same
tenant) can name a record it does not own, on every operation of the trade and Strategies
surfaces that takes an id. The statuses are the documents' own:

- Trade API ("Update Trade Details"): another tenant's trade is not found (404); a token
  whose headers name a tenant or user it does not belong to, or a user who is not
  responsible for the trade, is forbidden (403, the document's "The user does not have
  permission to update the trade"). Any user of a tenant may *read* its trades (openapi.yaml
  ``getTrade``), so that one row is an allowed read, kept to pin the decision down.
- Strategies API: another customer's purchase is not found (404, the document's
  ``{"error": "Purchase not found."}``); submitting for another user is forbidden (403).
- Carbon-offset API v2: an API key is the client's (``tradepost tokens create --surface
  offsets``, never bound to a user); another client's
  purchases, files and quotes do not exist (404, openapi.yaml ``OffsetNotFound``), whether
  a purchase is named by its id or by its external reference, in the path, as a page
  cursor (``starting_after``) or, for a quote, in the body of ``createPurchase``. Another
  token of the same client is the same API key: its read is allowed, kept as a row. The
  product catalogue is shared by every client: reading a product is allowed, kept as a row.

Every row also checks the error format of the surface and that no row of any table changed.

Credential kinds (issue 26, High 2): every kind of credential (a trade API token bound to
a user or tenant-wide, a carbon-offset API key, a Strategies customer's login token, and a
``trades+offsets`` token left by migration 0010) against every secured operation, named for
the owner of the operation's legitimate request: a kind the surface does not accept is 401
in the surface's format and changes nothing, whatever tenant and user it names.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import CheckContext, load_all_checks

from models.common.tokens import LEGACY as LEGACY_KIND
from models.common.tokens import OFFSETS as OFFSETS_KIND
from models.common.tokens import STRATEGIES as STRATEGIES_KIND
from models.common.tokens import TRADES as TRADES_KIND
from models.common.tokens import mint_token, surfaces_of
from tests.conftest import Figures
from tests.contract import (
    Operation,
    assert_error_format,
    operations,
    properties,
    refuses_unknown_properties,
    resolve,
    snapshot,
)
from tests.platform.test_hostile import OWNER, READS
from tests.world import BUYER, LEG, WRITES, World, bearer, build_world, trade_headers
from tradepost.app import SPEC_PATH
from tradepost.db import Database
from tradepost.surfaces import surface_for

ROW = {"datetime": "2025-01-15 00:00", "purchase": 1}


@dataclass(frozen=True, slots=True)
class Attempt:
    operation_id: str
    who: str
    method: str
    url: Callable[[World], str]
    headers: Callable[[World], dict[str, str]]
    status: int
    body: dict[str, Any] | None = None


def _trade(token: str, tenant: str, user: str) -> Callable[[World], dict[str, str]]:
    return lambda w: trade_headers(w, token, tenant, user)


def _bearer(token: str) -> Callable[[World], dict[str, str]]:
    return lambda w: bearer(w, token)


TRADE_URL: Callable[[World], str] = lambda w: f"/api/v1/trades/{w.trade_id}"  # noqa: E731
CURSOR_URL: Callable[[World], str] = lambda w: f"/api/v1/trades?cursor={w.trade_id}"  # noqa: E731

# Who tries to reach TENA/alice's trade, and what the trade document says they get.
TRADE_INTRUDERS = [
    ("another tenant's user", _trade("TENB/bob", "TENB", "bob"), 404),
    ("another tenant's tenant-wide token", _trade("TENB", "TENB", "bob"), 404),
    ("another tenant naming the owner's tenant", _trade("TENB/bob", "TENA", "alice"), 403),
    ("another tenant-wide token naming the owner", _trade("TENB", "TENA", "alice"), 403),
]
COLLEAGUE = _trade("TENA/amy", "TENA", "amy")
SAME_TENANT_WRITERS = [
    ("a colleague in the tenant", _trade("TENA/amy", "TENA", "amy"), 403),
    ("a colleague naming the owner", _trade("TENA/amy", "TENA", "alice"), 403),
]


# The trade writes beyond updateTrade (the reference's sub-resources, status, terminate):
# the path under the trade, and what an intruder tries to write there.
TRADE_PART_WRITES: dict[str, tuple[str, dict[str, Any]]] = {
    "updateTradeDocuments": ("documents", {"docLinks": []}),
    "updateTradeTestingDetails": ("testing-details", {"provider": "stolen"}),
    "updateTradePaymentDetails": (
        "payment-details",
        {"splits": [{"name": "All", "type": "PERCENTAGE", "value": 100}]},
    ),
    "updateTradeDeliveryDetails": ("delivery-details", {"destinationAddress": "elsewhere"}),
    "updateTradeTermsConditions": ("terms-conditions", {"termsAndConditions": "none"}),
    "changeTradeStatus": ("status", {"status": "ACTIVE"}),
    "terminateTrade": ("terminate", {"comment": "stolen"}),
}


def _trade_part(part: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/trades/{w.trade_id}/{part}"


NO_HEADERS: Callable[[World], dict[str, str]] = lambda w: {}  # noqa: E731


def _accept(trade: str, tenant: str, buyer: str) -> Callable[[World], str]:
    def url(w: World) -> str:
        trade_id = w.trade_id if trade == "own" else w.other_trade_id
        return f"/api/v1/trades/{trade_id}/tenant/{tenant}/buyer/{buyer}/public/accept"

    return url


# The buyer's public link carries no token: the link must name the trade's tenant (404)
# and its buyer (403). TENA's trade names BUYA; TENB's names BUYB.
ACCEPT_LINKS = [
    ("a link naming another tenant", _accept("own", "TENB", BUYER), 404),
    ("a link naming another tenant and its buyer", _accept("own", "TENB", "BUYB"), 404),
    ("a link naming another buyer", _accept("own", "TENA", "BUYB"), 403),
    ("a link naming the seller as buyer", _accept("own", "TENA", "alice"), 403),
    ("another tenant's trade under this tenant", _accept("other", "TENA", BUYER), 404),
]


def _purchase_url(verb: str, user: str) -> Callable[[World], str]:
    return lambda w: f"/api/v0/user/{user}/purchase/{w.purchase_id}/{verb}"


# Who tries to reach CUSTA/alice's purchase, through which {user} in the path.
PURCHASE_INTRUDERS = [
    ("another tenant's customer, own path", "CUSTB/bob", "bob"),
    ("another tenant's customer, owner's path", "CUSTB/bob", "alice"),
    ("a colleague in the tenant, own path", "CUSTA/amy", "amy"),
    ("a colleague in the tenant, owner's path", "CUSTA/amy", "alice"),
]

ATTEMPTS: list[Attempt] = [
    *(Attempt("getTrade", who, "GET", TRADE_URL, h, s) for who, h, s in TRADE_INTRUDERS),
    Attempt("getTrade", "a colleague (tenant-wide read)", "GET", TRADE_URL, COLLEAGUE, 200),
    *(
        Attempt("updateTrade", who, "PATCH", TRADE_URL, h, s, {"quantity": 1})
        for who, h, s in TRADE_INTRUDERS + SAME_TENANT_WRITERS
    ),
    *(
        Attempt(op, who, "PATCH", _trade_part(part), h, s, body)
        for op, (part, body) in TRADE_PART_WRITES.items()
        for who, h, s in TRADE_INTRUDERS + SAME_TENANT_WRITERS
    ),
    *(
        Attempt("deleteTrade", who, "DELETE", TRADE_URL, h, s)
        for who, h, s in TRADE_INTRUDERS + SAME_TENANT_WRITERS
    ),
    *(Attempt("acceptTrade", who, "GET", url, NO_HEADERS, s) for who, url, s in ACCEPT_LINKS),
    *(Attempt("listTrades", who, "GET", CURSOR_URL, h, s) for who, h, s in TRADE_INTRUDERS),
    *(
        Attempt(
            "getTradeHistory", who, "GET", lambda w: f"/api/v1/trades/{w.trade_id}/history", h, s
        )
        for who, h, s in TRADE_INTRUDERS
    ),
    *(
        Attempt(
            "getStrategyPurchaseHistory",
            who,
            "GET",
            _purchase_url("history", user),
            _bearer(t),
            404,
        )
        for who, t, user in PURCHASE_INTRUDERS
    ),
    *(
        Attempt("getStrategyPurchase", who, "GET", _purchase_url("get", user), _bearer(t), 404)
        for who, t, user in PURCHASE_INTRUDERS
    ),
    *(
        Attempt(
            "updateStrategyPurchase",
            who,
            "PUT",
            _purchase_url("update", user),
            _bearer(t),
            404,
            {"outputs": {"result": "stolen"}, "status": "completed"},
        )
        for who, t, user in PURCHASE_INTRUDERS
    ),
    *(
        Attempt(op, who, "POST", lambda w, u=url: u, _bearer(t), 403, {"purchase": [ROW]})
        for op, url in [
            ("submitStrategyPurchase", "/api/v0/user/alice/submit-purchase?retailer_id=123"),
            ("submitStrategyPurchaseForRetailer", "/api/v0/user/alice/submit-purchase/123"),
        ]
        for who, t in [
            ("another tenant's customer", "CUSTB/bob"),
            ("a colleague", "CUSTA/amy"),
        ]
    ),
    # bob belongs to retailer 123 in CUSTB: alice's strategies there are not his.
    *(
        Attempt(
            "listStrategies",
            who,
            "GET",
            lambda w, u=user: f"/api/v0/strategies/{u}?idretailer=123",
            _bearer(t),
            403,
        )
        for who, t, user in PURCHASE_INTRUDERS
        if user == "alice"
    ),
]


def _v2(template: str) -> Callable[[World], str]:
    return lambda w: template.format(
        id=w.offset_purchase_id, ref=w.offset_reference, file=w.offset_file_id, hook=w.webhook_id
    )


# Who tries to reach CLIENTA's carbon-offset records: another client's API keys.
OFFSET_INTRUDERS = [("another client's key", "CLIENTB")]
OFFSET_TARGETS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("getPurchase", "GET", "/v2/purchases/{id}", None),
    ("getPurchase", "GET", "/v2/purchases/{ref}", None),
    ("updatePurchase", "PATCH", "/v2/purchases/{id}", {"metadata": {"stolen": "yes"}}),
    ("updatePurchase", "PATCH", "/v2/purchases/{ref}", {"external_reference": "mine-now"}),
    ("cancelPurchase", "POST", "/v2/purchases/{id}/cancel", None),
    ("cancelPurchase", "POST", "/v2/purchases/{ref}/cancel", None),
    ("getFile", "GET", "/v2/files/{file}", None),
    ("downloadFile", "GET", "/v2/files/{file}/content", None),
    ("listPurchases", "GET", "/v2/purchases?starting_after={id}", None),
    ("getPurchaseHistory", "GET", "/v2/purchases/{id}/history", None),
    ("getPurchaseHistory", "GET", "/v2/purchases/{ref}/history", None),
    ("updateWebhook", "PUT", "/v2/webhooks/{hook}", {"endpoint_url": "https://evil.example/x"}),
    ("patchWebhook", "PATCH", "/v2/webhooks/{hook}", {"endpoint_url": "https://evil.example/x"}),
    ("deleteWebhook", "DELETE", "/v2/webhooks/{hook}", None),
]

ATTEMPTS += [
    *(
        Attempt(op, f"{who} via {template}", method, _v2(template), _bearer(t), 404, body)
        for op, method, template, body in OFFSET_TARGETS
        for who, t in OFFSET_INTRUDERS
    ),
    *(
        Attempt(
            "createPurchase",
            f"{who}, with the owner's quote{note}",
            "POST",
            lambda w: "/v2/purchases",
            _bearer(t),
            404,
            body,
        )
        for who, t in OFFSET_INTRUDERS
        for note, body in [
            ("", {"pricing": "{quote}"}),
            (" and reference", {"pricing": "{quote}", "external_reference": "{ref}"}),
        ]
    ),
    Attempt(
        "getProduct",
        "another client (the catalogue is the seller's, shared by every API key)",
        "GET",
        lambda w: f"/v2/products/{w.product_id}",
        _bearer("CLIENTB"),
        200,
    ),
    Attempt(
        "getPurchase",
        "another key of the same client (one API key)",
        "GET",
        _v2("/v2/purchases/{id}"),
        _bearer("CLIENTA/second key"),
        200,
    ),
]


# The trade families (trades-families.md) follow the trades rules: another tenant's
# request, tracking or trade is not found (404), headers naming a tenant or user the token
# does not belong to are 403, any user of the tenant reads, and only the user responsible
# (for the trade, or for the tracking) changes (403 for a colleague). A body naming the
# owner's trade (`tradeId`, the pipeline's `trade`) is refused like a path naming it.
def _family(template: str) -> Callable[[World], str]:
    return lambda w: template.format(
        request=w.request_id, tracking=w.tracking_id, trade=w.trade_id, leg=LEG
    )


FAMILY_READS = [
    ("getTradeRequest", "/api/trade-requests/{request}"),
    ("getTradeTracking", "/api/v1/trade-trackings/{tracking}"),
]
FAMILY_HISTORIES = [
    ("getTradeRequestHistory", "/api/trade-requests/{request}/history"),
    ("getTradeTrackingHistory", "/api/v1/trade-trackings/{tracking}/history"),
]
FAMILY_WRITES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "updateTradeRequestApprovalStatus",
        "POST",
        "/api/trade-requests/approval-status/{request}",
        {"tradeId": "{trade}", "status": "ACCEPTED"},
    ),
    ("updateTradeTracking", "PATCH", "/api/v1/trade-trackings/{tracking}", {"itenary": []}),
    (
        "updateTradeTrackingStatus",
        "PATCH",
        "/api/v1/trade-trackings/{tracking}/status",
        {"status": "DELIVERED"},
    ),
    (
        "updateTradeTrackingItinerary",
        "PATCH",
        "/api/v1/trade-trackings/{tracking}/reference/{leg}/itenary",
        {"destination": "elsewhere"},
    ),
    (
        "approveTradeProcessFlow",
        "PATCH",
        "/api/v1/trades/{trade}/process-flows/approval",
        {"status": "REJECTED", "reason": "stolen"},
    ),
    ("createTradeTracking", "POST", "/api/v1/trade-trackings", {"tradeId": "{trade}"}),
    *(
        (op, "PATCH", f"/api/v1/trade-tracking-pipeline/{path}", {"trade": "{trade}"})
        for op, path in [
            ("updateTradeTrackingFinances", "finances"),
            ("confirmTradeTrackingPayment", "finances/confirm-payment"),
            ("approveTradeTrackingSampling", "sampling/approval"),
        ]
    ),
]
ATTEMPTS += [
    *(
        Attempt(op, who, "GET", _family(url), h, s)
        for op, url in FAMILY_READS + FAMILY_HISTORIES
        for who, h, s in TRADE_INTRUDERS
    ),
    *(
        Attempt(op, "a colleague (tenant-wide read)", "GET", _family(url), COLLEAGUE, 200)
        for op, url in FAMILY_READS
    ),
    *(
        Attempt(op, who, method, _family(url), h, s, body)
        for op, method, url, body in FAMILY_WRITES
        for who, h, s in TRADE_INTRUDERS + SAME_TENANT_WRITERS
    ),
]

# Operations that name a record in the body rather than in a parameter.
BODY_ID_OPERATIONS = {
    "createPurchase",  # `pricing`: a quote of the same API key
    "createTradeTracking",  # `tradeId`: a trade of the tenant
    "updateTradeTrackingFinances",  # `trade`: a trade of the tenant
    "confirmTradeTrackingPayment",
    "approveTradeTrackingSampling",
}


def fill(body: dict[str, Any] | None, world: World) -> dict[str, Any] | None:
    """Attempt bodies name the world's records as ``{quote}``, ``{ref}`` and ``{trade}``."""
    if body is None:
        return None
    names = {"{quote}": world.quote_id, "{ref}": world.offset_reference, "{trade}": world.trade_id}
    return {
        key: names.get(value, value) if isinstance(value, str) else value
        for key, value in body.items()
    }


def test_every_operation_taking_an_id_is_in_the_matrix() -> None:
    taking_ids = {op.operation_id for op in operations() if op.takes_an_id}
    assert BODY_ID_OPERATIONS.isdisjoint(taking_ids)
    assert taking_ids | BODY_ID_OPERATIONS == {attempt.operation_id for attempt in ATTEMPTS}


def test_nobody_reaches_another_principals_records(
    client: Any, db: Database, database_url: str, figures: Figures
) -> None:
    world = build_world(db)
    owned = owned_ids(world)
    tried: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    before = snapshot(db)  # every attempt must leave it as it is: one snapshot serves all
    for attempt in ATTEMPTS:
        url = attempt.url(world)
        body = fill(attempt.body, world)
        response = client.request(attempt.method, url, headers=attempt.headers(world), json=body)
        context = f"{attempt.operation_id} by {attempt.who}"
        surface = surface_for(url)
        tried[surface.name] += 1
        if attempt.status < 400:
            assert response.status_code == attempt.status, (context, response.text)
        else:
            assert_error_format(response, surface, attempt.status)
            refused[surface.name] += 1
            sent = url + json.dumps(body)
            leaked = {i for i in owned if i not in sent and i in response.text}
            assert not leaked, (context, "the refusal names the owner's records", leaked)
        assert snapshot(db) == before, context
    with figures():
        backend = database_url.split(":")[0].split("+")[0]
        per_surface = ", ".join(f"{name} {refused[name]}/{n}" for name, n in tried.items())
        total = sum(refused.values())
        print(
            f"\nauthz [{backend}]: {len(ATTEMPTS)} cross-access attempts, {total} refused "
            f"with the documented status ({per_surface}), {len(ATTEMPTS) - total} documented "
            "tenant-wide reads, no row changed"
        )
    assert sum(refused.values()) == sum(1 for a in ATTEMPTS if a.status >= 400)


def owned_ids(world: World) -> set[str]:
    """Record ids of the first tenant of each surface, which no refusal may reveal."""
    return {
        world.trade_id,
        world.purchase_id,
        world.offset_purchase_id,
        world.offset_file_id,
        world.quote_id,
        world.webhook_id,
        world.request_id,
        world.tracking_id,
    }


# --- every credential kind against every operation ----------------------------------------

LIST_WEBHOOKS: Callable[[World], str] = lambda w: "/v2/webhooks"  # noqa: E731


def legitimate_request(
    operation_id: str,
) -> tuple[str, Callable[[World], str], Callable[[World], dict[str, str]], Any]:
    """The owner's request to the operation: a write of ``WRITES``, or a read of
    tests/platform/test_hostile.py with the headers of its surface's owner."""
    if operation_id in WRITES:
        write = WRITES[operation_id]
        return write.method, write.url, write.headers, write.body
    url = READS.get(operation_id) or {"listWebhooks": LIST_WEBHOOKS}[operation_id]
    op = next(op for op in operations() if op.operation_id == operation_id)
    return op.method, url, WRITES[OWNER[op.surface.name]].headers, None


SECURED = [op for op in operations() if op.secured]
# Each kind, and the surfaces that accept it (models.common.tokens).
KINDS = {
    "a user-bound trade API token": (TRADES_KIND, True),
    "a tenant-wide trade API token": (TRADES_KIND, False),
    "a carbon-offset API key": (OFFSETS_KIND, False),
    "a Strategies login token": (STRATEGIES_KIND, True),
    "a trades+offsets token of before the kinds": (LEGACY_KIND, False),
}


def token_names(world: World) -> dict[str, str]:
    return {token: name for name, token in world.tokens.items()}


def credential(db: Database, kind: str, tenant: str, user: str | None) -> str:
    """A live token of ``kind`` (``trades+offsets`` only exists by migration: inserted)."""
    with db.write() as session:
        if kind != LEGACY_KIND:
            return mint_token(session, kind=kind, tenant_id=tenant, user_id=user)[0]
        token, row = mint_token(session, kind=OFFSETS_KIND, tenant_id=tenant)
        row.kind = LEGACY_KIND
        session.add(row)
        return token


def test_every_credential_kind_is_accepted_only_by_its_surface(
    client: Any, db: Database, database_url: str, figures: Figures
) -> None:
    world = build_world(db)
    names = token_names(world)
    refused = accepted = 0
    for op in SECURED:
        method, url_of, headers_of, body_of = legitimate_request(op.operation_id)
        url, headers = url_of(world), headers_of(world)
        body = body_of(world) if body_of is not None else None
        owner = names[headers["Authorization"].removeprefix("Bearer ")]
        tenant, _, owner_user = owner.partition("/")
        for who, (kind, bound) in KINDS.items():
            user = (owner_user if owner_user in ("alice", "carol") else "ann") if bound else None
            token = credential(db, kind, tenant, user)
            sent = {**headers, "Authorization": f"Bearer {token}"}
            context = f"{op.operation_id} with {who} for {tenant}/{user}"
            before = snapshot(db)
            response = client.request(method, url, headers=sent, json=body)
            if op.surface.name in surfaces_of(kind):
                assert response.status_code not in (401, 403), (context, response.text)
                assert response.status_code < 500, (context, response.text)
                accepted += 1
            else:
                assert_error_format(response, op.surface, 401)
                assert snapshot(db) == before, context
                refused += 1
    with figures():
        backend = database_url.split(":")[0].split("+")[0]
        print(
            f"\ncredential kinds [{backend}]: {len(KINDS)} kinds x {len(SECURED)} secured "
            f"operations: {refused} refused (401 in the surface's format, no row changed), "
            f"{accepted} accepted by their own surface"
        )
    assert {op.operation_id for op in SECURED} == {
        op.operation_id for op in operations() if op.secured
    }


# --- mass assignment ----------------------------------------------------------------------


def write_operations() -> list[Operation]:
    return [op for op in operations() if op.request_schema is not None]


def server_owned_fields(op: Operation) -> set[str]:
    """What the operation answers but a client may not send: ids, state, times, totals."""
    answered: set[str] = set()
    for schema in op.success_schemas():
        for name, prop in properties(schema).items():
            answered.add(name)
            answered.update(properties(prop))  # e.g. the `trade` inside `TradeUpdated`
    assert op.request_schema is not None
    return answered - set(properties(op.request_schema))


def test_every_write_operation_has_a_legitimate_request() -> None:
    assert {op.operation_id for op in write_operations()} == set(WRITES)


@pytest.mark.parametrize("op", write_operations(), ids=lambda op: op.operation_id)
def test_request_bodies_refuse_unknown_fields(op: Operation) -> None:
    assert refuses_unknown_properties(op.request_schema), op.operation_id


SAMPLE_VALUES = {
    "string": "00000000-0000-0000-0000-000000000001",
    "integer": 99,
    "number": 99,
    "array": [],
    "object": {},
    "boolean": True,
}


def sample(prop: dict[str, Any]) -> Any:
    prop = resolve(prop)
    if "example" in prop:
        return prop["example"]
    if "enum" in prop:
        return prop["enum"][0]
    return SAMPLE_VALUES.get(prop.get("type", "object"), "x")


# Writes that answer a body (the password change answers 204: nothing is server-owned),
# except those whose answer holds nothing but what was sent and what is computed from it
# inside its arrays (the carbon comparison echoes its quantity and unit).
ECHOING_WRITES = {"createCarbonComparison"}
ANSWERING_WRITES = [
    op
    for op in write_operations()
    if any(op.success_schemas()) and op.operation_id not in ECHOING_WRITES
]


@pytest.mark.parametrize("operation_id", sorted(ECHOING_WRITES))
def test_echoing_writes_answer_no_field_of_their_own(operation_id: str) -> None:
    [op] = [op for op in write_operations() if op.operation_id == operation_id]
    assert server_owned_fields(op) == set()


@pytest.mark.parametrize("op", ANSWERING_WRITES, ids=lambda op: op.operation_id)
def test_server_owned_fields_cannot_be_assigned(client: Any, db: Database, op: Operation) -> None:
    world = build_world(db)
    write = WRITES[op.operation_id]
    owned = server_owned_fields(op)
    assert owned, op.operation_id
    answers = {
        name: prop
        for schema in op.success_schemas()
        for name, prop in [*properties(schema).items()]
        + [(n, p) for s in properties(schema).values() for n, p in properties(s).items()]
    }
    before = snapshot(db)  # every refusal must leave it as it is: one snapshot serves all
    for name in sorted(owned):
        response = client.request(
            write.method,
            write.url(world),
            headers=write.headers(world),
            json={**write.body(world), name: sample(answers[name])},
        )
        body = assert_error_format(response, op.surface, 400)
        assert name in str(body), (op.operation_id, name, body)
        assert snapshot(db) == before, (op.operation_id, name)


@pytest.mark.parametrize(
    ("field", "value"), [("tenantId", "TENB"), ("userId", "bob"), ("countryCode", "DE")]
)
@pytest.mark.parametrize("operation_id", ["createTrade", "updateTrade"])
def test_trade_ownership_fields_must_match_the_headers(
    client: Any, db: Database, operation_id: str, field: str, value: str
) -> None:
    world = build_world(db)
    write = WRITES[operation_id]
    before = snapshot(db)
    response = client.request(
        write.method,
        write.url(world),
        headers=write.headers(world),
        json={**write.body(world), field: value},
    )
    assert_error_format(response, surface_for(write.url(world)), 403)
    assert snapshot(db) == before


# --- Schemathesis keeps checking authentication -------------------------------------------


def test_schemathesis_checks_ignored_auth_on_every_secured_operation() -> None:
    """tests/platform/test_schemathesis.py runs the default checks; ``ignored_auth`` must be
    among them (the live CLI run in tests/platform/test_live_fuzz.py passes ``--checks all``)."""
    load_all_checks()
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    secured = [op for op in operations() if op.secured]
    assert secured
    for op in secured:
        operation = schema[op.path][op.method]
        config = schema.config.checks_config_for(operation=operation, phase=None)
        context = CheckContext(
            override=None,
            auth=None,
            headers=None,
            config=config,
            transport_kwargs=None,
            response_checks=[],
        )
        names = {check.__name__ for check in context.internals.checks}
        assert {"ignored_auth", "object_level_authorization"} <= names, op.operation_id
