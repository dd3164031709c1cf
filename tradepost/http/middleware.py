"""The service's own ASGI middleware around Connexion's stack (order: tradepost.http.context).

``RequestLog`` sits outside everything (errors included): it creates the request's
context with its request id, puts the id on every response under the surface's header
and writes one log line and the metrics per request. ``BodyLimit`` sits inside the error
handler so that a 413 is rendered in the surface's own format; it refuses a declared
oversize body before reading it and stops reading an undeclared (chunked) one as soon as
it passes the limit. Operations without authentication (``security: []`` in the spec:
the Strategies login) get a much smaller limit (``max_anonymous_body_bytes``), because
no token check refuses an anonymous caller before its body is read and parsed.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradepost.errors import InvalidRequest, PayloadTooLarge
from tradepost.http import context
from tradepost.ops.metrics import Metrics
from tradepost.surfaces import OFFSETS, surface_for

access_log = logging.getLogger("tradepost.access")

# An incoming X-Request-Id (e.g. a proxy's) is adopted when it is 1-128 of these characters.
_WELL_FORMED_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,128}\Z")
# The carbon-offset document's ids are ``req_<uuid>``; a client's other ids are not echoed.
_OFFSETS_ID = re.compile(r"\Areq_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def new_request_id(offsets: bool) -> str:
    return f"req_{uuid.uuid4()}" if offsets else str(uuid.uuid4())


class RequestLog:
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
        generated = new_request_id(surface is OFFSETS)
        adopted = (_OFFSETS_ID if surface is OFFSETS else _WELL_FORMED_ID).match(incoming)
        request_id = incoming if adopted else generated
        ctx = context.start(
            scope,
            request_id,
            service_request_id=generated if adopted else request_id,
            client_request_id=incoming if adopted else None,
        )
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
            _log_request(scope, ctx, operation, status, seconds)


def _log_request(
    scope: Scope,
    ctx: context.RequestContext,
    operation: str | None,
    status: int,
    seconds: float,
) -> None:
    """One line per request; never headers or bodies, so never a credential."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 3)
    principal = ctx.caller.label if ctx.caller is not None else None
    access_log.info(
        "%s %s %s %.1fms op=%s principal=%s request_id=%s service_request_id=%s",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        operation or "-",
        principal or "-",
        ctx.request_id,
        ctx.service_request_id,
        extra={
            "request_id": ctx.request_id,
            "service_request_id": ctx.service_request_id,
            "method": scope["method"],
            "path": scope["path"],
            "operation_id": operation,
            "principal": principal,
            "status": status,
            "duration_ms": duration_ms,
        },
    )


def anonymous_operations(paths: Mapping[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every operation the spec lets callers use without a
    credential (``security: []``) that takes a request body."""
    found = []
    for template, item in paths.items():
        pattern = re.compile(
            r"\A" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/"))) + r"/?\Z"
        )
        for method, operation in item.items():
            anonymous = isinstance(operation, dict) and operation.get("security") == []
            if anonymous and "requestBody" in operation:
                found.append((method.upper(), pattern))
    return found


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        anonymous: list[tuple[str, re.Pattern[str]]] | None = None,
        max_anonymous_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.anonymous = anonymous or []
        self.max_anonymous_bytes = max_anonymous_bytes or max_bytes

    def limit_for(self, method: str, path: str) -> int:
        for anonymous_method, pattern in self.anonymous:
            if method == anonymous_method and pattern.match(path):
                return min(self.max_bytes, self.max_anonymous_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidRequest("Content-Length must be a number of bytes.")
            if int(declared) > limit:
                raise _too_large(limit)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
            return message

        await self.app(scope, limited_receive, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request bodies are limited to {limit} bytes.")
