"""Every write operation of the trade and Strategies surfaces against the hostile corpus.

For each operation (read from openapi.yaml) and each entry of ``tests/hostile/corpus.py``,
plus one body per bounded string or array of the operation's schema: the exact 4xx, in the
surface's own error format, naming the field where there is one, and not one row changed.
The legitimate request each entry spoils is sent last and must succeed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract import Operation, assert_error_format, operations, resolve, snapshot
from tests.hostile.corpus import BODY_LIMIT, CORPUS, Hostile, overlong_cases
from tests.world import WRITES, build_world
from tradepost.db import Database
from tradepost.settings import Settings

WRITE_OPERATIONS = [op for op in operations() if op.request_schema is not None]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        validate_responses=True,
        max_body_bytes=BODY_LIMIT,
    )


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


def names_field(body: dict[str, Any], field: str) -> bool:
    if "errors" in body:
        return field in [error["field"] for error in body["errors"]]
    return f'"{field}"' in body.get("error", "")


@pytest.mark.parametrize("op", WRITE_OPERATIONS, ids=lambda op: op.operation_id)
def test_hostile_bodies_get_the_exact_4xx_and_change_nothing(
    client: Any,
    db: Database,
    database_url: str,
    op: Operation,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = build_world(db)
    write = WRITES[op.operation_id]
    url, headers = write.url(world), write.headers(world)
    cases = [(hostile, hostile.spoil(write.body)) for hostile in CORPUS]
    cases += list(overlong_cases(op, write.body))
    statuses: Counter[int] = Counter()
    for hostile, content in cases:
        before = snapshot(db)
        response = send(client, op, url, headers, hostile, content)
        context = f"{op.operation_id}: {hostile.name}"
        assert response.status_code == hostile.status, (context, response.text[:300])
        body = assert_error_format(response, op.surface, hostile.status)
        if hostile.blames is not None:
            assert names_field(body, hostile.blames), (context, body)
        assert len(response.content) < 2048, (context, "the error echoes the input")
        assert snapshot(db) == before, context
        statuses[response.status_code] += 1

    legitimate = client.request(op.method, url, headers=headers, json=write.body)
    assert legitimate.status_code < 300, legitimate.text

    with capsys.disabled():
        backend = database_url.split(":")[0].split("+")[0]
        counts = ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items()))
        print(
            f"\nhostile [{backend}] {op.operation_id}: {len(cases)} inputs "
            f"({len(CORPUS)} corpus + {len(cases) - len(CORPUS)} over a spec bound): {counts}; "
            "0 server errors, no row changed"
        )


# --- the spec bounds everything a client sends ------------------------------------------------

FREE_FORM = {"StrategyFreeOutputs"}  # any JSON object, bounded by the body limit and depth


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
    bounded_text = {"maxLength", "enum"} & schema.keys() or schema.get("format") == "uuid"
    if kind == "string" and not bounded_text:
        yield f"{where}: string without maxLength"
    if kind in {"number", "integer"} and "maximum" not in schema:
        yield f"{where}: number without maximum"
    if kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: array without maxItems"
        yield from unbounded(schema["items"], f"{where}[]", seen)
    closed = schema.get("additionalProperties", True) is False or "allOf" in schema
    if kind == "object" and not (closed or part_of_all):
        yield f"{where}: object open to any property"
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
    "10 kB": "x" * 10_000,
    "negative": "-1",
}
READS = {
    "getTrade": lambda w: f"/api/v1/trades/{w.trade_id}",
    "listTrades": lambda w: "/api/v1/trades",
    "getStrategyPurchase": lambda w: f"/api/v0/user/alice/purchase/{w.purchase_id}/get",
}


def spoil_parameter(url: str, op: Operation, parameter: dict[str, Any], value: str) -> str:
    if parameter["in"] == "query":
        return f"{url}{'&' if '?' in url else '?'}{parameter['name']}={value}"
    template = op.path.split("/")
    segments = url.split("?")[0].split("/")
    index = template.index("{" + parameter["name"] + "}")
    segments[index] = value
    return "/".join(segments)


@pytest.mark.parametrize(
    "op", [op for op in operations() if op.parameters], ids=lambda op: op.operation_id
)
def test_hostile_parameters_get_400_and_change_nothing(
    client: Any, db: Database, op: Operation
) -> None:
    world = build_world(db)
    if op.operation_id in WRITES:
        write = WRITES[op.operation_id]
        url, headers, body = write.url(world), write.headers(world), write.body
    else:
        url, body = READS[op.operation_id](world), None
        owner = "updateTrade" if op.surface.name == "trades" else "submitStrategyPurchase"
        headers = WRITES[owner].headers(world)
    for parameter in op.parameters:
        schema = resolve(parameter["schema"])
        for name, value in HOSTILE_VALUES.items():
            if name in {"NaN", "1e400"} and "pattern" in schema:
                continue  # a well-formed identifier there
            before = snapshot(db)
            if parameter["in"] == "header":
                if "%" in value:
                    continue  # header values are not percent-decoded
                request = (url, {**headers, parameter["name"]: value})
            else:
                request = (spoil_parameter(url, op, parameter, value), headers)
            response = client.request(op.method, request[0], headers=request[1], json=body)
            context = f"{op.operation_id} {parameter['in']} {parameter['name']}: {name}"
            assert_error_format(response, op.surface, 400)
            assert len(response.content) < 2048, context
            assert snapshot(db) == before, context
