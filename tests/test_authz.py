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

Every row also checks the error format of the surface and that no row of any table changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import CheckContext, load_all_checks

from tests.contract import (
    Operation,
    assert_error_format,
    operations,
    properties,
    refuses_unknown_properties,
    resolve,
    snapshot,
)
from tests.world import WRITES, World, bearer, build_world, trade_headers
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


def _purchase_url(verb: str, user: str) -> Callable[[World], str]:
    return lambda w: f"/api/v0/user/{user}/purchase/{w.purchase_id}/{verb}"


# Who tries to reach CUSTA/alice's purchase, through which {user} in the path.
PURCHASE_INTRUDERS = [
    ("another tenant's customer, own path", "CUSTB/bob", "bob"),
    ("another tenant's customer, owner's path", "CUSTB/bob", "alice"),
    ("another tenant's tenant-wide token, owner's path", "CUSTB", "alice"),
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
    *(Attempt("listTrades", who, "GET", CURSOR_URL, h, s) for who, h, s in TRADE_INTRUDERS),
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
        Attempt(
            "submitStrategyPurchase",
            who,
            "POST",
            lambda w: "/api/v0/user/alice/submit-purchase",
            _bearer(t),
            403,
            {"purchase": [ROW]},
        )
        for who, t in [("another tenant's customer", "CUSTB/bob"), ("a colleague", "CUSTA/amy")]
    ),
]


def test_every_operation_taking_an_id_is_in_the_matrix() -> None:
    taking_ids = {op.operation_id for op in operations() if op.takes_an_id}
    assert taking_ids == {attempt.operation_id for attempt in ATTEMPTS}


def test_nobody_reaches_another_principals_records(
    client: Any, db: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(db)
    refused = 0
    for attempt in ATTEMPTS:
        before = snapshot(db)
        url = attempt.url(world)
        response = client.request(
            attempt.method, url, headers=attempt.headers(world), json=attempt.body
        )
        context = f"{attempt.operation_id} by {attempt.who}"
        if attempt.status < 400:
            assert response.status_code == attempt.status, (context, response.text)
        else:
            assert_error_format(response, surface_for(url), attempt.status)
            refused += 1
        assert snapshot(db) == before, context
    with capsys.disabled():
        backend = database_url.split(":")[0].split("+")[0]
        print(
            f"\nauthz [{backend}]: {len(ATTEMPTS)} cross-access attempts, {refused} refused "
            f"with the documented status, {len(ATTEMPTS) - refused} documented tenant-wide "
            "read, no row changed"
        )
    assert refused == sum(1 for a in ATTEMPTS if a.status >= 400)


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


@pytest.mark.parametrize("op", write_operations(), ids=lambda op: op.operation_id)
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
    for name in sorted(owned):
        before = snapshot(db)
        response = client.request(
            write.method,
            write.url(world),
            headers=write.headers(world),
            json={**write.body, name: sample(answers[name])},
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
        json={**write.body, field: value},
    )
    assert_error_format(response, surface_for(write.url(world)), 403)
    assert snapshot(db) == before


# --- Schemathesis keeps checking authentication -------------------------------------------


def test_schemathesis_checks_ignored_auth_on_every_secured_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/test_schemathesis.py runs the default checks; ``ignored_auth`` must be among them
    (the live CLI run in tests/test_live_fuzz.py passes ``--checks all``)."""
    for name in ("TRADEPOST_FUZZ_TOKEN", "TRADEPOST_FUZZ_TENANT", "TRADEPOST_FUZZ_USER"):
        monkeypatch.setenv(name, "x")
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
