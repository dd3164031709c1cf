"""The service's own ASGI middleware around Connexion's stack (order: tradepost.http.context).

``RequestLog`` sits outside everything (errors included): it creates the request's
context with its request id, puts the id on every response under the surface's header
and writes one log line and the metrics per request. ``BodyLimit`` sits inside the error
handler so that a 413 is rendered in the surface's own format; it refuses a declared
oversize body before reading it and stops reading an undeclared (chunked) one as soon as
it passes the limit.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

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
