"""What cross-cutting tests read from openapi.yaml, and the checks they share.

The operation lists are derived from the spec, so a new operation shows up in every
matrix (and fails it until a row is added for it). ``snapshot`` reads every row of every
table, so "nothing changed" means nothing at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from sqlalchemy import text
from sqlmodel import SQLModel

from tradepost.app import SPEC_PATH
from tradepost.db import Database
from tradepost.surfaces import OFFSETS, STRATEGIES, TRADES, Surface, surface_for

# The surfaces these matrices cover: every one with operations of its own.
COVERED = (TRADES, STRATEGIES, OFFSETS)
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Query parameters that name a record: a page cursor is an id the caller must own.
RECORD_QUERY_PARAMETERS = {"cursor", "starting_after", "ending_before"}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def resolve(node: Any) -> Any:
    """Follow ``$ref`` (local refs only) until a non-reference node."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def dereferenced(node: Any) -> Any:
    """A copy of ``node`` with every local ``$ref`` inside it replaced by its target."""
    node = resolve(node)
    if isinstance(node, dict):
        return {key: dereferenced(value) for key, value in node.items()}
    if isinstance(node, list):
        return [dereferenced(item) for item in node]
    return node


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # the template, e.g. /api/v1/trades/{tradeId}
    definition: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    @property
    def surface(self) -> Surface:
        return surface_for(self.path)

    @property
    def request_schema(self) -> dict[str, Any] | None:
        body = resolve(self.definition.get("requestBody"))
        if not body:
            return None
        schema: dict[str, Any] = resolve(body["content"]["application/json"]["schema"])
        return schema

    @property
    def takes_an_id(self) -> bool:
        """A path parameter, or a query parameter naming a record (a cursor, a uuid)."""
        return any(p["in"] == "path" or names_a_record(p) for p in self.parameters)

    @property
    def secured(self) -> bool:
        return self.definition.get("security", spec().get("security")) != []

    def success_schemas(self) -> Iterator[dict[str, Any]]:
        for status, response in self.definition["responses"].items():
            if str(status).startswith("2"):
                content = resolve(response).get("content", {}).get("application/json")
                if content:
                    yield resolve(content["schema"])


def names_a_record(parameter: dict[str, Any]) -> bool:
    """A query parameter whose value is some record's id (``cursor``, ``starting_after``)."""
    if parameter["in"] != "query":
        return False
    schema = resolve(parameter.get("schema", {}))
    return parameter["name"] in RECORD_QUERY_PARAMETERS or schema.get("format") == "uuid"


def operations(surfaces: tuple[Surface, ...] = COVERED) -> list[Operation]:
    found = []
    for path, item in spec()["paths"].items():
        shared = [resolve(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method in item and surface_for(path) in surfaces:
                definition = item[method]
                own = [resolve(p) for p in definition.get("parameters", [])]
                found.append(
                    Operation(
                        definition["operationId"], method.upper(), path, definition, (*shared, *own)
                    )
                )
    return found


def methods_of(path: str) -> set[str]:
    return {m.upper() for m in spec()["paths"][path] if m in HTTP_METHODS}


def properties(schema: Any) -> dict[str, Any]:
    """The properties an object schema declares, through ``allOf`` and ``$ref``."""
    schema = resolve(schema)
    found: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        found.update(properties(part))
    found.update({name: resolve(s) for name, s in schema.get("properties", {}).items()})
    return found


def refuses_unknown_properties(schema: Any) -> bool:
    schema = resolve(schema)
    if schema.get("additionalProperties") is False:
        return True
    return any(refuses_unknown_properties(part) for part in schema.get("allOf", []))


# --- each surface's error format ----------------------------------------------------------

STRATEGIES_DETAIL_STATUSES = {401, 403, 405, 415, 429}
OFFSETS_REQUEST_ID = re.compile(r"^req_[0-9a-f-]{36}$")


def assert_error_format(response: Any, surface: Surface, status: int) -> Any:
    """The response is ``status`` in ``surface``'s own documented error format; its body."""
    assert response.status_code == status, (status, response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json"
    body: Any = response.json()
    if surface is OFFSETS:
        assert OFFSETS_REQUEST_ID.match(response.headers["squake-request-id"]), response.headers
        assert isinstance(body, list), body
        assert body, "an offsets error lists at least one problem"
        for item in body:
            assert set(item) == {"code", "detail", "source"}, item
            assert isinstance(item["code"], str), item
            assert item["code"], item
            assert isinstance(item["detail"], str), item
            assert item["detail"], item
            assert set(item["source"]) == {"id", "attribute", "model"}, item
            assert all(v is None or isinstance(v, str) for v in item["source"].values()), item
    elif surface is STRATEGIES and status == 400 and "error" not in body:
        # The password change's Django REST framework shape: field -> messages.
        assert body, body
        for messages in body.values():
            assert isinstance(messages, list), body
            assert messages, body
            assert all(isinstance(m, str) and m for m in messages), body
    elif surface is STRATEGIES:
        key = "detail" if status in STRATEGIES_DETAIL_STATUSES else "error"
        assert set(body) == {key}, body
        assert isinstance(body[key], str)
        assert body[key]
    else:
        assert set(body) == {"code", "message", "errors", "requestId"}, body
        assert body["requestId"] == response.headers["x-request-id"]
        assert all(set(e) == {"location", "field", "message"} for e in body["errors"])
    return body


_PURCHASE_ITEM = re.compile(
    r'^Purchase item at index (\d+)(?: is missing required field "(\w+)"'
    r'|: invalid (datetime) format|: field "(\w+)")'
)


def strategies_blamed_field(message: str) -> str | None:
    """The field a documented Strategies text blames (they say "item at index 0", not
    ``purchase[0].datetime``)."""
    if item := _PURCHASE_ITEM.match(message):
        index, *names = item.groups()
        return f"purchase[{index}].{next(name for name in names if name)}"
    if message.startswith('Field "purchase" must be'):
        return "purchase"
    return None


# --- the database, all of it ------------------------------------------------------------


def snapshot(db: Database) -> dict[str, str]:
    """Every row of every table, in primary-key order, as the database prints it.

    One statement for the whole database (one scalar subquery per table), not one per
    table: the hostile matrices take a snapshot before and after each of thousands of
    requests. Each row is printed exactly (PostgreSQL's row text; SQLite's ``quote()`` of
    every column, blobs as hex), so equal snapshots mean equal rows."""
    with db.read() as session:
        row = session.execute(text(_snapshot_sql(session.get_bind().dialect.name))).one()
    return dict(zip(_table_names(), row, strict=True))


def _table_names() -> list[str]:
    return [table.name for table in SQLModel.metadata.sorted_tables]


@cache
def _snapshot_sql(dialect: str) -> str:
    parts = []
    for table in SQLModel.metadata.sorted_tables:
        name = f'"{table.name}"'
        order = ", ".join(f'"{column.name}"' for column in table.primary_key.columns)
        if dialect == "postgresql":
            rows = f"string_agg(t::text, E'\\n' ORDER BY {order})"
            parts.append(f"(SELECT coalesce({rows}, '') FROM {name} AS t)")  # noqa: S608
        else:  # SQLite: the rows of the ordered subquery, in its order
            printed = " || ',' || ".join(f'quote("{column.name}")' for column in table.columns)
            ordered = f"SELECT {printed} AS r FROM {name} ORDER BY {order}"  # noqa: S608
            aggregate = "coalesce(group_concat(r, char(10)), '')"
            parts.append(f"(SELECT {aggregate} FROM ({ordered}))")  # noqa: S608
    return "SELECT " + ",\n".join(parts)
