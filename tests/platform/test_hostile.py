"""Every write operation of every surface (trades, Strategies, carbon offsets) against the
hostile corpus.

For each operation (read from openapi.yaml) and each entry of ``tests/hostile/corpus.py``,
plus one body per bounded string or array of the operation's schema: the exact 4xx, in the
surface's own error format, naming the field where there is one, and not one row changed.
The legitimate request each entry spoils is sent last and must succeed.
"""

from __future__ import annotations

import re
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from tests.conftest import Figures, app_settings
from tests.contract import (
    Operation,
    assert_error_format,
    dereferenced,
    names_a_record,
    operations,
    resolve,
    snapshot,
    strategies_blamed_field,
)
from tests.hostile.corpus import BODY_LIMIT, CORPUS, Hostile, overlong_cases
from tests.world import BUYER, WRITES, World, build_world
from tradepost.connexion_glue.validation import openapi_to_jsonschema
from tradepost.db import Database
from tradepost.settings import Settings

WRITE_OPERATIONS = [op for op in operations() if op.request_schema is not None]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return app_settings(database_url, max_body_bytes=BODY_LIMIT)


def test_every_write_operation_is_attacked() -> None:
    assert {op.operation_id for op in WRITE_OPERATIONS} == set(WRITES)


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def send(
    client: Any, op: Operation, url: str, headers: dict[str, str], hostile: Hostile, content: bytes
) -> Any:
    headers = {**headers, **hostile.extra_headers}
    if hostile.content_type is not None:
        headers["Content-Type"] = hostile.content_type
    body: Any = chunks(content) if hostile.chunked else content
    return client.request(op.method, url, content=body, headers=headers)


def names_field(body: Any, field: str, *, or_inside: bool = False) -> bool:
    """The error blames ``field`` (or, ``or_inside``, an element or member of it)."""

    def blames(name: str | None) -> bool:
        inside = or_inside and (name or "").startswith((f"{field}[", f"{field}."))
        return name == field or inside

    if isinstance(body, list):  # carbon offsets: source.attribute of any item
        return any(blames(item["source"]["attribute"]) for item in body)
    if "errors" in body:
        return any(blames(error["field"]) for error in body["errors"])
    if "error" not in body:  # the Strategies password change: {field: [messages]}
        return any(blames(name) for name in body)
    if (documented := strategies_blamed_field(body["error"])) and blames(documented):
        return True
    quoted = [f'"{field}"', *([f'"{field}[', f'"{field}.'] if or_inside else [])]
    return any(name in body.get("error", "") for name in quoted)


@pytest.mark.parametrize("op", WRITE_OPERATIONS, ids=lambda op: op.operation_id)
def test_hostile_bodies_get_the_exact_4xx_and_change_nothing(
    client: Any,
    db: Database,
    database_url: str,
    op: Operation,
    figures: Figures,
) -> None:
    world = build_world(db)
    write = WRITES[op.operation_id]
    url, headers, legitimate_body = write.url(world), write.headers(world), write.body(world)
    cases = [(hostile, hostile.spoil(legitimate_body)) for hostile in CORPUS]
    cases += list(overlong_cases(op, legitimate_body))
    statuses: Counter[int] = Counter()
    before = snapshot(db)  # every case must leave it as it is: one snapshot serves all
    for hostile, content in cases:
        response = send(client, op, url, headers, hostile, content)
        context = f"{op.operation_id}: {hostile.name}"
        assert response.status_code == hostile.status, (context, response.text[:300])
        body = assert_error_format(response, op.surface, hostile.status)
        if hostile.blames is not None:
            assert names_field(body, hostile.blames), (context, body)
        assert len(response.content) < 2048, (context, "the error echoes the input")
        assert snapshot(db) == before, context
        statuses[response.status_code] += 1

    legitimate = client.request(op.method, url, headers=headers, json=legitimate_body)
    assert legitimate.status_code < 300, legitimate.text

    with figures():
        backend = database_url.split(":")[0].split("+")[0]
        counts = ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items()))
        print(
            f"\nhostile [{backend}] {op.operation_id}: {len(cases)} inputs "
            f"({len(CORPUS)} corpus + {len(cases) - len(CORPUS)} over a spec bound): {counts}; "
            "0 server errors, no row changed"
        )


# --- the spec bounds everything a client sends ------------------------------------------------

FREE_FORM = {"StrategyFreeOutputs"}  # any JSON object, bounded by the body limit and depth
_UNBOUNDED_REPEAT = re.compile(r"[*+]|\{[0-9]+,\}")


def bounded_pattern(pattern: str) -> bool:
    """An anchored pattern without ``*``, ``+`` or ``{n,}`` bounds a string's length."""
    plain = re.sub(r"\\.", "", pattern)
    return plain.startswith("^") and plain.endswith("$") and not _UNBOUNDED_REPEAT.search(plain)


def unbounded(
    schema: Any, where: str, seen: frozenset[int] = frozenset(), part_of_all: bool = False
) -> Iterator[str]:
    if isinstance(schema, dict) and "$ref" in schema:
        if schema["$ref"].rsplit("/", 1)[-1] in FREE_FORM:
            return
        schema = resolve(schema)
    if id(schema) in seen:
        return
    seen = seen | {id(schema)}
    kind = schema.get("type")
    bounded_text = (
        {"maxLength", "enum"} & schema.keys()
        or schema.get("format") == "uuid"
        or bounded_pattern(schema.get("pattern", ""))
    )
    if kind == "string" and not bounded_text:
        yield f"{where}: string without maxLength"
    if kind in {"number", "integer"} and "maximum" not in schema:
        yield f"{where}: number without maximum"
    if kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: array without maxItems"
        yield from unbounded(schema["items"], f"{where}[]", seen)
    additional = schema.get("additionalProperties", True)
    closed = additional is False or "allOf" in schema
    if kind == "object" and not (closed or part_of_all):
        # Open objects need a bound on how many keys, and a map's values need theirs.
        # Without a value schema, the extra values are free-form JSON (see FREE_FORM).
        # OpenAPI 3.0 cannot bound a key; the request body limit does.
        if "maxProperties" not in schema:
            yield f"{where}: object open to any property"
        if isinstance(additional, dict):
            yield from unbounded(additional, f"{where}.*", seen)
    for combinator in ("allOf", "anyOf", "oneOf"):
        for index, part in enumerate(schema.get(combinator, [])):
            yield from unbounded(
                part, f"{where}/{combinator}[{index}]", seen, part_of_all=combinator == "allOf"
            )
    for name, prop in schema.get("properties", {}).items():
        yield from unbounded(prop, f"{where}.{name}", seen)


def test_every_value_a_client_sends_is_bounded_by_the_spec() -> None:
    problems = []
    for op in operations():
        for parameter in op.parameters:
            where = f"{op.operation_id} {parameter['in']} {parameter['name']}"
            problems += unbounded(parameter["schema"], where)
        if op.request_schema is not None:
            problems += unbounded(op.request_schema, f"{op.operation_id} body")
    assert problems == [], "\n".join(problems)


# --- hostile parameters: path, query and header values --------------------------------------

HOSTILE_VALUES = {
    "5000 digits": "9" * 5000,
    "NaN": "NaN",
    "1e400": "1e400",
    "NUL": "%00",
    "invalid UTF-8": "%FF%FE",
    "overlong UTF-8": "%C0%AF",
    "U+FFFD (valid UTF-8)": "%EF%BF%BD",
    "leading space": "%2042",
    "digit separator": "1_0",
    "fullwidth digit": "%EF%BC%91",
    "10 kB": "x" * 10_000,
    "negative": "-1",
}
READS: dict[str, Callable[[World], str]] = {
    "getTrade": lambda w: f"/api/v1/trades/{w.trade_id}",
    "listTrades": lambda w: "/api/v1/trades",
    "getStrategyPurchase": lambda w: f"/api/v0/user/alice/purchase/{w.purchase_id}/get",
    "listStrategies": lambda w: "/api/v0/strategies/alice?idretailer=123",
    "getTradeHistory": lambda w: f"/api/v1/trades/{w.trade_id}/history",
    "listTradeNegotiations": lambda w: "/api/v1/trades/negotiations",
    "deleteTrade": lambda w: f"/api/v1/trades/{w.trade_id}",
    "acceptTrade": (
        lambda w: f"/api/v1/trades/{w.trade_id}/tenant/TENA/buyer/{BUYER}/public/accept"
    ),
    "getStrategyPurchaseHistory": (
        lambda w: f"/api/v0/user/alice/purchase/{w.purchase_id}/history"
    ),
    "getPurchaseHistory": lambda w: f"/v2/purchases/{w.offset_purchase_id}/history",
    "getPricing": lambda w: "/v2/pricing?carbon_quantity=42",
    "listPurchases": lambda w: "/v2/purchases",
    "getPurchase": lambda w: f"/v2/purchases/{w.offset_purchase_id}",
    "cancelPurchase": lambda w: f"/v2/purchases/{w.offset_purchase_id}/cancel",
    "getFile": lambda w: f"/v2/files/{w.offset_file_id}",
    "getProducts": lambda w: "/v2/products?locale=en",
    "getProduct": lambda w: f"/v2/products/{w.product_id}?locale=en",
    "downloadFile": lambda w: f"/v2/files/{w.offset_file_id}/content",
    "deleteWebhook": lambda w: f"/v2/webhooks/{w.webhook_id}",
    "getTradeRequest": lambda w: f"/api/trade-requests/{w.request_id}",
    "getTradeRequestHistory": lambda w: f"/api/trade-requests/{w.request_id}/history",
    "listTradeTrackings": lambda w: "/api/v1/trade-trackings",
    "getTradeTracking": lambda w: f"/api/v1/trade-trackings/{w.tracking_id}",
    "getTradeTrackingHistory": lambda w: f"/api/v1/trade-trackings/{w.tracking_id}/history",
}
# Whose headers a read is sent with: the owner's, from that surface's writes.
OWNER = {
    "trades": "updateTrade",
    "strategies": "submitStrategyPurchase",
    "offsets": "createPurchase",
}

# What a value the schema accepts gets when it names nothing of the caller's: no such record
# (a path segment, a page cursor), or, in a header, a tenant or user the token does not
# belong to. A username in a Strategies path names a user, and acting for another user is
# forbidden (tests/platform/test_authz.py has the same rows for real users).
WELL_FORMED_UNKNOWN = {"path": 404, "query": 404, "header": 403}
# So does a retailer: one the user does not belong to is forbidden too. The strategies
# list is read with ``?idretailer=123``: a valid ``retailer_id`` naming another retailer
# contradicts it (400).
NAMES_A_USER = {
    ("submitStrategyPurchase", "username"): 403,
    ("submitStrategyPurchase", "retailer_id"): 403,
    ("submitStrategyPurchaseForRetailer", "username"): 403,
    ("submitStrategyPurchaseForRetailer", "retailer_id"): 403,
    ("listStrategies", "username"): 403,
    ("listStrategies", "idretailer"): 403,
    ("listStrategies", "retailer_id"): 400,
    ("acceptTrade", "buyerId"): 403,
}
# A quote's product and currency name a catalogue price: none is 400 no_price_found, as the
# real API answers (openapi.yaml getPricing).
NAMES_A_PRICE = {("getPricing", "product"): 400, ("getPricing", "currency"): 400}
# The safe-write headers (tests/platform/test_safe_writes.py has their own tests): a well-formed
# If-Match that names no version is 412; a well-formed If-None-Match that matches nothing
# reads normally; a well-formed Idempotency-Key is just a new key, and the create succeeds.
SAFE_WRITE_HEADERS: dict[str, int | None] = {
    "If-Match": 412,
    "If-None-Match": None,
    "Idempotency-Key": None,
}

_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def received_text(parameter: dict[str, Any], value: str) -> str | None:
    """The text the service receives for ``value``; None when it is not UTF-8 text."""
    if parameter["in"] == "header":
        return value  # header values are sent as they are, not percent-decoded
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None


def typed(text: str, schema: dict[str, Any]) -> Any:
    """The value a text stands for under the schema's type (numbers as JSON writes them)."""
    kind = schema.get("type")
    if kind == "array":
        return [typed(text, schema["items"])]
    if kind in {"integer", "number"} and _JSON_NUMBER.match(text):
        number = Decimal(text)
        if kind == "number" or number != number.to_integral_value():
            return number
        # Integers of more than 100 digits stay Decimal: beyond every (required) maximum,
        # and Python will not print them in a validation message.
        return int(number) if number.adjusted() < 100 else number
    return text


def schema_accepts(parameter: dict[str, Any], value: str) -> bool:
    """Whether ``value`` (as sent) is valid for the parameter's schema, read from openapi.yaml."""
    text = received_text(parameter, value)
    if text is None:
        return False
    schema = openapi_to_jsonschema(dereferenced(parameter["schema"]))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return validator.is_valid(typed(text, schema))


def expected_status(op: Operation, parameter: dict[str, Any], value: str) -> int | None:
    """400 for a value the schema refuses; for one it accepts, what a well-formed value that
    names nothing gets (None: it is a legitimate value, and succeeds)."""
    if not schema_accepts(parameter, value):
        return 400
    if (op.operation_id, parameter["name"]) in NAMES_A_USER:
        return NAMES_A_USER[op.operation_id, parameter["name"]]
    if (op.operation_id, parameter["name"]) in NAMES_A_PRICE:
        return NAMES_A_PRICE[op.operation_id, parameter["name"]]
    if parameter["in"] == "header" and parameter["name"] in SAFE_WRITE_HEADERS:
        return SAFE_WRITE_HEADERS[parameter["name"]]
    if parameter["in"] == "header" and parameter["name"] == "countryCode":
        return None  # the caller's country names no record: any code the schema admits
    if parameter["in"] == "query" and not names_a_record(parameter):
        return None
    return WELL_FORMED_UNKNOWN[parameter["in"]]


def spoil_parameter(url: str, op: Operation, parameter: dict[str, Any], value: str) -> str:
    path, _, query = url.partition("?")
    if parameter["in"] == "query":
        pairs = [pair for pair in query.split("&") if pair]
        pairs = [pair for pair in pairs if pair.split("=")[0] != parameter["name"]]
        pairs.append(f"{parameter['name']}={value}")
        return f"{path}?{'&'.join(pairs)}"
    template = op.path.split("/")
    segments = path.split("/")
    index = template.index("{" + parameter["name"] + "}")
    segments[index] = value
    return "/".join(segments) + (f"?{query}" if query else "")


PARAMETER_OPERATIONS = [op for op in operations() if op.parameters]


def test_every_operation_with_parameters_is_reached() -> None:
    reached = set(READS) | set(WRITES)
    assert {op.operation_id for op in PARAMETER_OPERATIONS} <= reached


@pytest.mark.parametrize("op", PARAMETER_OPERATIONS, ids=lambda op: op.operation_id)
def test_hostile_parameters_get_the_status_their_schema_implies_and_change_nothing(
    client: Any, db: Database, database_url: str, op: Operation, figures: Figures
) -> None:
    world = build_world(db)
    if op.operation_id in WRITES:
        write = WRITES[op.operation_id]
        url, headers, body = write.url(world), write.headers(world), write.body(world)
    else:
        url, body = READS[op.operation_id](world), None
        headers = WRITES[OWNER[op.surface.name]].headers(world)
    statuses: Counter[int] = Counter()
    before = snapshot(db)  # each refused value must leave it as it is
    for parameter in op.parameters:
        for name, value in HOSTILE_VALUES.items():
            if parameter["in"] == "header" and "%" in value:
                continue  # header values are not percent-decoded
            expected = expected_status(op, parameter, value)
            if parameter["in"] == "header":
                request = (url, {**headers, parameter["name"]: value})
            else:
                request = (spoil_parameter(url, op, parameter, value), headers)
            response = client.request(op.method, request[0], headers=request[1], json=body)
            context = f"{op.operation_id} {parameter['in']} {parameter['name']}: {name}"
            statuses[response.status_code] += 1
            if expected is None:
                assert response.status_code < 300, (context, response.text[:300])
                before = snapshot(db)  # an accepted value may write: the new state to keep
                continue
            error = assert_error_format(response, op.surface, expected)
            if expected == 400:
                assert names_field(error, parameter["name"], or_inside=True), (context, error)
            assert len(response.content) < 2048, context
            assert snapshot(db) == before, context
    with figures():
        backend = database_url.split(":")[0].split("+")[0]
        counts = ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items()))
        print(
            f"\nhostile parameters [{backend}] {op.operation_id}: "
            f"{sum(statuses.values())} values: {counts}; no row changed"
        )
