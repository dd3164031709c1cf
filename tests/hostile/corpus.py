"""Hostile inputs, each a spoiled version of an operation's legitimate request.

A ``Hostile`` entry turns the legitimate JSON body of any write operation (``tests/world.py``)
into bytes an attacker or a broken client might send, and says which status every surface
must answer: never a 500, always in the surface's own error format. Bodies are built from
the legitimate one so that only the named defect is wrong.

``overlong_cases`` adds, per operation, one body per bounded string or array of its request
schema, one element or character past the bound, read from openapi.yaml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.contract import Operation, resolve
from tradepost.connexion_glue.validation import format_path

# The limit the hostile suite runs with (tests/platform/test_hostile.py sets it in the settings).
BODY_LIMIT = 4 * 1024 * 1024

Spoil = Callable[[dict[str, Any]], bytes]

_NUMBER = re.compile(r'(?<=": )-?[0-9]+(?:\.[0-9]+)?(?=[,}\]])')
_STRING_VALUE = re.compile(r'(?<=": ")')


@dataclass(frozen=True, slots=True)
class Hostile:
    name: str
    spoil: Spoil
    status: int
    content_type: str | None = "application/json"
    chunked: bool = False  # sent as a stream without Content-Length
    blames: str | None = None  # the field the error must name, when there is one
    extra_headers: dict[str, str] = field(default_factory=dict)


def text(body: dict[str, Any]) -> str:
    return json.dumps(body)


def with_number(literal: str) -> Spoil:
    """The first number of the body replaced by ``literal`` (or added, if it has none)."""

    def spoil(body: dict[str, Any]) -> bytes:
        encoded = text(body)
        if _NUMBER.search(encoded):
            return _NUMBER.sub(literal, encoded, count=1).encode()
        return f'{{"n": {literal}, {encoded[1:]}'.encode()

    return spoil


def in_first_string(raw: bytes) -> Spoil:
    """``raw`` (bytes, not text) inserted at the start of the body's first string value."""

    def spoil(body: dict[str, Any]) -> bytes:
        encoded = text(body).encode()
        if b'": "' not in encoded:
            return b'{"s": "' + raw + b'", ' + encoded[1:]
        index = encoded.index(b'": "') + 4
        return encoded[:index] + raw + encoded[index:]

    return spoil


def duplicate_first_key(body: dict[str, Any]) -> bytes:
    key, value = next(iter(body.items()))
    return f"{{{json.dumps(key)}: {json.dumps(value)}, {text(body)[1:]}".encode()


def nested(depth: int, opener: str = "[", closer: str = "]") -> Spoil:
    def spoil(body: dict[str, Any]) -> bytes:
        return f'{{"nested": {opener * depth}{closer * depth}, {text(body)[1:]}'.encode()

    return spoil


def nested_objects(depth: int) -> Spoil:
    def spoil(body: dict[str, Any]) -> bytes:
        deep = '{"a": ' * depth + "1" + "}" * depth
        return f'{{"nested": {deep}, {text(body)[1:]}'.encode()

    return spoil


def padded_to(size: int) -> Spoil:
    """The legitimate body, still valid JSON, with trailing whitespace up to ``size`` bytes."""

    def spoil(body: dict[str, Any]) -> bytes:
        encoded = text(body).encode()
        return encoded + b" " * (size - len(encoded))

    return spoil


def constant(raw: bytes) -> Spoil:
    return lambda body: raw


def as_form(body: dict[str, Any]) -> bytes:
    return "&".join(f"{k}={json.dumps(v)}" for k, v in body.items()).encode()


def as_multipart(body: dict[str, Any]) -> bytes:
    parts = [
        f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{json.dumps(v)}\r\n'
        for k, v in body.items()
    ]
    return ("".join(parts) + "--b--\r\n").encode()


def legitimate(body: dict[str, Any]) -> bytes:
    return text(body).encode()


CORPUS: list[Hostile] = [
    Hostile("nested 10k arrays", nested(10_000), 400),
    Hostile("nested 10k objects", nested(10_000, '{"a":', "}"), 400),
    Hostile("nested 300 arrays (past the validator's depth)", nested(300), 400),
    Hostile("nested 300 objects (past the validator's depth)", nested_objects(300), 400),
    Hostile("number 1e400", with_number("1e400"), 400),
    Hostile("number -1e400", with_number("-1e400"), 400),
    Hostile("400-digit integer", with_number("9" * 400), 400),
    Hostile("5000-digit integer (past int() limits)", with_number("9" * 5000), 400),
    Hostile("NaN literal", with_number("NaN"), 400),
    Hostile("Infinity literal", with_number("Infinity"), 400),
    Hostile("-Infinity literal", with_number("-Infinity"), 400),
    Hostile("duplicate keys", duplicate_first_key, 400),
    Hostile("invalid UTF-8 bytes", in_first_string(b"\xff\xfe"), 400),
    Hostile("overlong UTF-8 encoding", in_first_string(b"\xc0\xaf"), 400),
    Hostile("lone high surrogate escape", in_first_string(b"\\ud800"), 400),
    Hostile("lone low surrogate escape", in_first_string(b"\\udc00x"), 400),
    Hostile("UTF-16 body", lambda body: text(body).encode("utf-16"), 400),
    Hostile("UTF-8 byte order mark", lambda body: b"\xef\xbb\xbf" + legitimate(body), 400),
    Hostile("truncated JSON", lambda body: legitimate(body)[:-2], 400),
    Hostile("trailing garbage", lambda body: legitimate(body) + b"}", 400),
    Hostile("two documents", lambda body: legitimate(body) * 2, 400),
    Hostile("empty body", constant(b""), 400),
    Hostile("whitespace only", constant(b" \r\n\t"), 400),
    Hostile("JSON null", constant(b"null"), 400),
    Hostile("JSON array", lambda body: b"[" + legitimate(body) + b"]", 400),
    Hostile("JSON string", constant(b'"{}"'), 400),
    Hostile("single quotes", lambda body: text(body).replace('"', "'").encode(), 400),
    Hostile("text/plain", legitimate, 415, content_type="text/plain"),
    Hostile("form-urlencoded", as_form, 415, content_type="application/x-www-form-urlencoded"),
    Hostile("multipart form", as_multipart, 415, content_type="multipart/form-data; boundary=b"),
    Hostile("XML content type", legitimate, 415, content_type="application/xml"),
    Hostile("no Content-Type, with a body", legitimate, 415, content_type=None),
    Hostile("over the size limit", padded_to(BODY_LIMIT + 1), 413),
    Hostile("over the size limit, chunked", padded_to(BODY_LIMIT + 1), 413, chunked=True),
    Hostile("truncated JSON, chunked", lambda body: legitimate(body)[:-2], 400, chunked=True),
    Hostile(
        "non-numeric Content-Length",
        legitimate,
        400,
        extra_headers={"Content-Length": "12abc"},
    ),
]


# --- bounds read from the spec --------------------------------------------------------------


def example_of(schema: Any) -> Any:
    """A valid value built from the schema's examples (enough for the bounded shapes here)."""
    schema = resolve(schema)
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "array":
        return [example_of(schema["items"])]
    properties = {}
    for part in [schema, *schema.get("allOf", [])]:
        part = resolve(part)
        for name in part.get("required", []):
            properties[name] = example_of(part["properties"][name])
    return properties


def bounded_fields(schema: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """``(path, kind, bound, schema)`` for every maxLength string and maxItems array, through
    properties, ``allOf`` and the first item of object arrays (not into ``anyOf``)."""
    schema = resolve(schema)
    for part in schema.get("allOf", []):
        yield from bounded_fields(part, path)
    if schema.get("type") == "string" and "maxLength" in schema:
        yield path, "string", schema["maxLength"], schema
    if schema.get("type") == "array" and "maxItems" in schema:
        yield path, "array", schema["maxItems"], schema
    if schema.get("type") == "array":
        yield from bounded_fields(schema["items"], (*path, 0))
    for name, prop in schema.get("properties", {}).items():
        yield from bounded_fields(prop, (*path, name))


def set_path(body: dict[str, Any], path: tuple[Any, ...], value: Any, schema: Any) -> None:
    """Set ``value`` at ``path``, creating containers from the schema's examples."""
    target: Any = body
    node = resolve(schema)
    for step in path[:-1]:
        node = _child(node, step)
        if isinstance(step, int):
            if not target:
                target.append(example_of(node))
        elif step not in target:
            target[step] = example_of(node)
        target = target[step]
    target[path[-1]] = value


def _child(schema: Any, step: Any) -> Any:
    schema = resolve(schema)
    if isinstance(step, int):
        return resolve(schema["items"])
    for part in [schema, *schema.get("allOf", [])]:
        part = resolve(part)
        if step in part.get("properties", {}):
            return resolve(part["properties"][step])
    raise KeyError(step)


def overlong_cases(op: Operation, body: dict[str, Any]) -> Iterator[tuple[Hostile, bytes]]:
    schema = op.request_schema
    for path, kind, bound, field_schema in bounded_fields(schema):
        spoilt = json.loads(json.dumps(body))
        if kind == "string":
            value: Any = "x" * (bound + 1)
        else:
            value = [example_of(field_schema["items"])] * (bound + 1)
        set_path(spoilt, path, value, schema)
        name = format_path("", path)
        yield (
            Hostile(f"{name} {kind} of {bound + 1}", legitimate, 400, blames=name),
            legitimate(spoilt),
        )
