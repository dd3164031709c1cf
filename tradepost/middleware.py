"""Pure ASGI middleware around Connexion's stack.

``RequestContext`` sits outside everything (errors included): it fixes the request id,
puts it on every response under the surface's header and writes one log line per
request. ``BodyLimit`` sits inside the error handler so that a 413 is rendered in the
surface's own format; it refuses a declared oversize body before reading it and stops
reading an undeclared (chunked) one as soon as it passes the limit. ``CanonicalRequest``
sits there too, and puts what Connexion matches case- and byte-sensitively in canonical
form first:

- a path or query string whose percent-escapes are not UTF-8 is 400, naming the
  parameter, where the server would otherwise hand the application U+FFFD in their place
  (a well-formed but different value: on the free-text ``/v2/purchases/{id}``, a lookup);
- the media type of ``Content-Type`` is case-insensitive (RFC 9110), but Connexion looks
  the body's schema and validator up case-sensitively: ``Application/JSON`` skipped body
  validation and reached the handler without a body (a 500). It is lower-cased here;
- the carbon-offset API's official client before 0.5.1 sent an empty ``expand[]`` array
  as ``expand=[]`` (a literal ``[]``); on ``/v2/`` that pair is dropped (no parameter).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradepost.errors import FieldError, InvalidRequest, PayloadTooLarge
from tradepost.metrics import Metrics
from tradepost.routing import AllowedMethods
from tradepost.surfaces import OFFSETS, surface_for

access_log = logging.getLogger("tradepost.access")

# An incoming X-Request-Id (e.g. a proxy's) is adopted when it is 1-128 of these characters.
_WELL_FORMED_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,128}\Z")
# The carbon-offset document's ids are ``req_<uuid>``; a client's other ids are not echoed.
_OFFSETS_ID = re.compile(r"\Areq_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def new_request_id(offsets: bool) -> str:
    return f"req_{uuid.uuid4()}" if offsets else str(uuid.uuid4())


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


class RequestContext:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, operation_ids: dict[str, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.operation_ids = operation_ids  # Connexion's resolved name -> spec operationId

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        surface = surface_for(scope["path"])
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = (
            incoming
            if (_OFFSETS_ID if surface is OFFSETS else _WELL_FORMED_ID).match(incoming)
            else new_request_id(surface is OFFSETS)
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extensions = scope.setdefault("extensions", {})
        headers = [(surface.request_id_header.lower().encode(), request_id.encode())]
        if surface is OFFSETS:  # the real API repeats its SQUAKE-Request-Id as X-Request-Id
            headers.append((b"x-request-id", request_id.encode()))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            resolved = extensions.get("connexion_routing", {}).get("operation_id")
            operation = self.operation_ids.get(resolved, resolved)
            self.metrics.observe(operation, scope["method"], status, seconds)
            _log_request(scope, state, operation, status, seconds)


def _log_request(
    scope: Scope, state: dict[str, Any], operation: str | None, status: int, seconds: float
) -> None:
    """One line per request; never headers or bodies, so never a credential."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 3)
    access_log.info(
        "%s %s %s %.1fms op=%s principal=%s request_id=%s",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        operation or "-",
        state.get("principal") or "-",
        state.get("request_id"),
        extra={
            "request_id": state.get("request_id"),
            "method": scope["method"],
            "path": scope["path"],
            "operation_id": operation,
            "principal": state.get("principal"),
            "status": status,
            "duration_ms": duration_ms,
        },
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidRequest("Content-Length must be a number of bytes.")
            if int(declared) > self.max_bytes:
                raise self._too_large()
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request bodies are limited to {self.max_bytes} bytes.")


class CanonicalRequest:
    """Refuses a target that is not UTF-8 text; lower-cases the body's media type; drops
    the old offset clients' empty ``expand=[]``."""

    def __init__(self, app: ASGIApp, *, routes: AllowedMethods) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self._path_problem(scope) or _query_problem(scope.get("query_string", b""))
            if problem is not None:
                raise InvalidRequest(
                    f"The {problem.location} parameter {problem.field!r} is not UTF-8 text."
                    if problem.field
                    else f"The request {problem.location} is not UTF-8 text.",
                    fields=[problem],
                )
            query = scope.get("query_string", b"")
            if b"expand=" in query and surface_for(scope["path"]) is OFFSETS:
                scope["query_string"] = _without_empty_expand(query)
            headers = scope["headers"]
            for index, (name, value) in enumerate(headers):
                if name == b"content-type" and (canonical := _lower_media_type(value)) != value:
                    headers = scope["headers"] = list(headers)
                    headers[index] = (name, canonical)
        await self.app(scope, receive, send)

    def _path_problem(self, scope: Scope) -> FieldError | None:
        raw = scope.get("raw_path")
        if not raw:
            return None
        raw = raw.split(b"?", 1)[0]
        if _plain(raw):
            return None
        for index, segment in enumerate(raw.split(b"/")):
            if not _is_text(unquote_to_bytes(segment)):
                name = self.routes.parameter_at(scope["path"], index) or ""
                return FieldError("path", name, "is not UTF-8 text once percent-decoded")
        return None


def _query_problem(query: bytes) -> FieldError | None:
    if _plain(query):
        return None
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        raw_name = unquote_to_bytes(name.replace(b"+", b" "))
        raw_value = unquote_to_bytes(value.replace(b"+", b" "))
        if not (_is_text(raw_name) and _is_text(raw_value)):
            shown = raw_name.decode("utf-8", "replace")[:50] if _is_text(raw_name) else ""
            return FieldError("query", shown, "is not UTF-8 text once percent-decoded")
    return None


def _without_empty_expand(query: bytes) -> bytes:
    pairs = query.split(b"&")
    return b"&".join(
        p for p in pairs if p not in (b"expand=%5B%5D", b"expand=%5b%5d", b"expand=[]")
    )


def _plain(data: bytes) -> bool:
    """ASCII without percent-escapes: text as it is (the common case, checked fast)."""
    return data.isascii() and b"%" not in data


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lower_media_type(value: bytes) -> bytes:
    """``Application/JSON; charset=UTF-8`` -> ``application/json; charset=UTF-8``."""
    media_type, separator, parameters = value.partition(b";")
    return media_type.strip().lower() + separator + parameters
