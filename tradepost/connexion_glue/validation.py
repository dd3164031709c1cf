"""Request validation compiled once per operation, plugged into Connexion's validator map.

Connexion builds a fresh Draft4 validator for every request and parses the body twice.
Here each schema is compiled once with jsonschema-rs; the body is read, parsed and checked
once, and the parsed value is handed to the handler through the request context
(``tradepost.http.context``). Connexion's default validators cost 3 ms per 50-item body and a
year of strategy outputs took 12 s (stack-facts); pinned by tests/platform/test_jsonio.py and the
hostile corpus (tests/platform/test_hostile.py). A plain dict as ``validator_map["body"]`` would
silently disable body validation, hence ``MediaTypeDict``.
Every error names its field, so each surface can render it in its own format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import jsonschema_rs
from connexion.datastructures import MediaTypeDict
from connexion.lifecycle import ConnexionRequest
from connexion.uri_parsing import OpenAPIURIParser
from connexion.validators import AbstractRequestBodyValidator, ParameterValidator
from connexion.validators.form_data import FormDataValidator, MultiPartFormDataValidator
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from tradepost import jsonio
from tradepost.errors import FieldError, InvalidRequest, UnsupportedMediaType
from tradepost.http.context import context_of

MAX_REPORTED_ERRORS = 20
MAX_MESSAGE_LENGTH = 240  # an error never echoes a huge value back (100 kB in, 100 kB out)
MAX_DEPTH = 255  # jsonschema-rs (and orjson) give up on values nested deeper than this

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Formats OpenAPI uses that jsonschema-rs's Draft 4 mode does not know.
EXTRA_FORMATS = {"uuid": lambda value: bool(_UUID.match(value))}


def openapi_to_jsonschema(schema: Any) -> Any:
    """Rewrite OpenAPI 3.0's ``nullable`` into JSON Schema type lists (a deep copy)."""
    if isinstance(schema, list):
        return [openapi_to_jsonschema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: openapi_to_jsonschema(value) for key, value in schema.items()}
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        for combinator in ("allOf", "anyOf", "oneOf"):
            if combinator in out:
                out = {"anyOf": [{"type": "null"}, out]}
                break
    return out


def uses_decimal(schema: Any) -> bool:
    """True where the schema asks for exact numbers (``format: decimal``)."""
    if isinstance(schema, dict):
        return schema.get("format") == "decimal" or any(
            uses_decimal(value) for key, value in schema.items() if key != "components"
        )
    if isinstance(schema, list):
        return any(uses_decimal(v) for v in schema)
    return False


class CompiledSchema:
    """A schema compiled once; ``errors`` yields field-level errors."""

    def __init__(self, schema: dict[str, Any]) -> None:
        # Connexion hangs every component onto each schema; its $refs are resolved already.
        schema = {key: value for key, value in schema.items() if key != "components"}
        self._validator = jsonschema_rs.Draft4Validator(
            openapi_to_jsonschema(schema),
            validate_formats=True,
            formats=EXTRA_FORMATS,
        )
        self.exact_numbers = uses_decimal(schema)

    def errors(self, instance: Any, *, location: str, prefix: str = "") -> list[FieldError]:
        try:
            if self._validator.is_valid(instance):  # the common case, without error objects
                return []
            found = list(islice(self._validator.iter_errors(instance), MAX_REPORTED_ERRORS))
        except ValueError as exc:  # "Recursion limit reached": nested beyond MAX_DEPTH
            message = f"is nested more than {MAX_DEPTH} levels deep"
            if "recursion" not in str(exc).lower():
                message = f"cannot be validated: {clip(str(exc))}"
            return [FieldError(location, prefix, message)]
        return [error for raw in found for error in _field_errors(raw, location, prefix, instance)]


def _value_at(instance: Any, path: list[Any]) -> Any:
    for part in path:
        try:
            instance = instance[part]
        except (KeyError, IndexError, TypeError):
            return None
    return instance


NON_FINITE = "is a number out of range (beyond 1.8e308)"
_COMBINATORS = (
    jsonschema_rs.ValidationErrorKind.AnyOf,
    jsonschema_rs.ValidationErrorKind.OneOfNotValid,
)


def _field_errors(
    raw: Any, location: str, prefix: str, instance: Any = None
) -> Iterator[FieldError]:
    path = list(raw.instance_path)
    kind = raw.kind
    if isinstance(kind, _COMBINATORS):
        # When only one alternative accepts the value's type, its errors say what is wrong.
        candidates = [branch for branch in kind.context if not _wrong_type(branch, path)]
        if len(candidates) == 1:
            for inner in candidates[0][:MAX_REPORTED_ERRORS]:
                yield from _field_errors(inner, location, prefix, instance)
            return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        yield FieldError(location, format_path(prefix, [*path, kind.property]), "is required")
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        for name in kind.unexpected:
            yield FieldError(location, format_path(prefix, [*path, name]), "is not allowed")
    elif jsonio.is_non_finite(_value_at(instance, path)):
        # The validator sees an overflowing number (``1e309``, parsed as infinity) as
        # null: "null is not of types null, string". Say what it is.
        yield FieldError(location, format_path(prefix, path), NON_FINITE)
    else:
        yield FieldError(location, format_path(prefix, path), clip(raw.message))


def clip(message: str) -> str:
    """Keep both ends of a long message: the value's start and what is wrong with it."""
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    half = MAX_MESSAGE_LENGTH // 2
    return f"{message[:half]}...{message[-half:]}"


def _wrong_type(branch: list[Any], path: list[Any]) -> bool:
    return any(
        isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Type)
        and list(error.instance_path) == path
        for error in branch
    )


def format_path(prefix: str, parts: Iterable[str | int]) -> str:
    """``["docLinks", 0, "link"]`` -> ``docLinks[0].link``."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


class _SchemaCache:
    """Compiled schemas keyed by the identity of Connexion's (long-lived) schema dicts."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, CompiledSchema]] = {}

    def get(self, schema: dict[str, Any]) -> CompiledSchema:
        entry = self._entries.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = (schema, CompiledSchema(schema))
            self._entries[id(schema)] = entry
        return entry[1]


_schemas = _SchemaCache()


class JSONBodyValidator(AbstractRequestBodyValidator):  # type: ignore[misc]
    """Reads, parses and validates a JSON body once; the handler takes the parsed value.

    The raw bytes are not replayed downstream (nothing there reads them), so a 50 MB body
    is held once, as parsed objects, and freed as soon as the handler is done with it.
    """

    def __init__(self, *, schema: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(schema=schema, **kwargs)
        self._compiled = _schemas.get(schema)

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        body = self._decode(await _read_body(receive), scope)
        if body is None and not self._nullable:
            if self._required:
                raise InvalidRequest(
                    "Request body is required.",
                    fields=[FieldError("body", "", "request body is required")],
                )
        else:
            errors = self._compiled.errors(body, location="body")
            if errors:
                raise InvalidRequest("Request body is invalid.", fields=errors)
        context_of(scope).body = body
        return _empty_body, scope

    def _decode(self, raw: bytearray, scope: Scope) -> Any:
        if not raw:
            return None
        if "content-type" not in Headers(scope=scope):
            raise UnsupportedMediaType("A request with a body must have a Content-Type header.")
        try:
            return jsonio.loads(raw, exact=self._compiled.exact_numbers)
        except jsonio.JSONError as exc:
            if exc.path:  # a well-formed number this service cannot take
                field = format_path("", exc.path)
                raise InvalidRequest(
                    f"Request body is invalid: {field}: {exc}.",
                    fields=[FieldError("body", field, str(exc))],
                ) from None
            raise InvalidRequest(
                f"Request body is not valid JSON: {exc}.",
                fields=[FieldError("body", "", f"not valid JSON: {exc}")],
            ) from None


async def _read_body(receive: Receive) -> bytearray:
    """The whole body, chunked or not (Connexion treats a missing Content-Length as empty)."""
    body = bytearray()
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        more_body = message.get("more_body", False)
    return body


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class CompiledParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Connexion's parameter checks with compiled schemas and field-level errors."""

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        name = param["name"]
        if value is None:
            if param.get("required"):
                raise InvalidRequest(
                    f"Missing {parameter_type} parameter {name!r}.",
                    fields=[FieldError(parameter_type, name, "is required")],
                )
            return None
        if "schema" not in param:
            return None
        errors = _schemas.get(param["schema"]).errors(
            _coerce(value, param["schema"]), location=parameter_type, prefix=name
        )
        if errors:
            raise InvalidRequest(f"Invalid {parameter_type} parameter {name!r}.", fields=errors)
        return None

    def validate(self, scope: Scope) -> None:
        request = ConnexionRequest(scope, uri_parser=self.uri_parser)
        if self.strict_validation:
            extra = sorted(self.validate_query_parameter_list(request, self.security_query_params))
            if extra:
                raise InvalidRequest(
                    f"Unknown query parameter(s): {', '.join(extra)}.",
                    fields=[FieldError("query", name, "is not allowed") for name in extra],
                )
        self.validate_request(request)


_JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Query, path and header values arrive as text; give the schema its declared type.

    Numbers are read as JSON writes them, at most ``jsonio``'s 100 characters: Python's
    own ``int``/``float`` also take `` 42``, ``1_000``, fullwidth digits and ``NaN``, which
    are not numbers to a client. Anything else stays text, and the type check refuses it.
    """
    kind = schema.get("type")
    if not isinstance(value, str):
        return value
    if kind in {"integer", "number"} and strict_number(value, kind):
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return {"true": True, "false": False}.get(value.lower(), value)
    return value


def strict_number(value: Any, kind: Any) -> bool:
    """Whether text is a number of the kind as JSON writes one (no `` 1``, ``1_0``, ``NaN``)."""
    if not isinstance(value, str) or len(value) > jsonio.MAX_NUMBER_LENGTH:
        return False
    grammar = _JSON_INTEGER if kind == "integer" else _JSON_NUMBER
    return grammar.fullmatch(value) is not None


class StrictURIParser(OpenAPIURIParser):  # type: ignore[misc]
    """Connexion's parser, but numbers in the path and query are JSON numbers.

    Connexion converts them with ``int``/``float`` before any validator sees them, and
    those take `` 42``, ``1_000``, fullwidth digits and ``NaN``; such text is left as text
    here, so the schema's type check refuses it (400) instead of reading a number into it.
    """

    def resolve_params(self, params: dict[str, Any], _in: str) -> dict[str, Any]:
        resolved: dict[str, Any] = super().resolve_params(params, _in)
        for name, values in params.items():
            kind = self.param_schemas.get(name, {}).get("type")
            if kind in {"integer", "number"}:
                raw = values if _in == "path" else values[-1]
                if not strict_number(raw, kind):
                    resolved[name] = raw
        return resolved


VALIDATOR_MAP = {
    "parameter": CompiledParameterValidator,
    "body": MediaTypeDict(
        {
            "*/*json": JSONBodyValidator,
            "application/x-www-form-urlencoded": FormDataValidator,
            "multipart/form-data": MultiPartFormDataValidator,
        }
    ),
}

__all__ = [
    "VALIDATOR_MAP",
    "CompiledSchema",
    "StrictURIParser",
    "format_path",
]
