"""Idempotent creates: the ``Idempotency-Key`` request header, as ASGI middleware.

It sits after Connexion's security and request validation, so it sees only requests
that are authenticated and valid (a refused request never touches a key), and it acts
only on the operations named in ``operations`` (those whose spec declares the
``IdempotencyKey`` parameter). For a request carrying a key:

1. fingerprint it: SHA-256 over the method, the path and query string, the context
   headers that change what a create means (``tenantId``, ``userId``, ``countryCode``)
   and the parsed body serialised canonically (sorted keys), so formatting does not matter;
2. claim the key for the caller (``models.common.idempotency.claim``, committed at once),
   leased for ``lease`` (``TRADEPOST_IDEMPOTENCY_LEASE_SECONDS``);
3. if someone holds it: another fingerprint is 422, an unfinished request 409 with
   ``Retry-After``, a finished one is replayed (same status, body and
   ``Location``/``ETag``, plus ``Idempotent-Replayed: true``), and nothing is created;
4. else run the handler with the response held back. The handler builds its 2xx inside
   the create's write transaction (``tradepost.http.request.create``), which stores it
   under the key (``store``) in that same transaction: a create that committed has its
   response stored, even if the process is killed before it answers, and a retry
   replays it. Anything else (4xx, 5xx, an exception) releases the claim.

A process killed before the create committed leaves an in-flight claim: retries get
409 with ``Retry-After`` until its lease runs out, then take it over and create. A
create still running after its lease cannot store its response once the key was taken
over (``ClaimLost``): it is rolled back and answers 409, so a key creates at most once.

Adding a surface: declare the parameter on its create operations and build the 2xx
with ``tradepost.http.request.create``; a handler that does not is still stored, after
its transaction (by this middleware), without the guarantee above.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable
from datetime import timedelta
from itertools import count
from typing import Any

import orjson
from sqlmodel import Session
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.common import idempotency
from models.common.tokens import Principal
from tradepost import jsonio
from tradepost.db import Database
from tradepost.errors import Conflict, Unprocessable
from tradepost.http.context import RequestContext, context_of

logger = logging.getLogger("tradepost.http.idempotency")

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
CONTEXT_HEADERS = ("tenantid", "userid", "countrycode")
REPLAYED_HEADERS = ("content-type", "location", "etag")
PURGE_EVERY = 500  # claims per process between purges of expired keys
RETRY_AFTER_SECONDS = 1  # an unfinished create usually finishes within this


def fingerprint(method: str, path: str, headers: Headers, body: Any) -> str:
    digest = hashlib.sha256()
    digest.update(f"{method.upper()} {path}\n".encode())
    for name in CONTEXT_HEADERS:
        digest.update(f"{name}: {headers.get(name, '')}\n".encode())
    digest.update(orjson.dumps(body, default=jsonio.json_default, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def spec_operations(paths: dict[str, Any], parameter_ref: str) -> frozenset[str]:
    """The operationIds whose parameters include ``parameter_ref``."""
    found = set()
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and any(
                p.get("$ref") == parameter_ref for p in operation.get("parameters", [])
            ):
                found.add(operation["operationId"])
    return frozenset(found)


class Idempotency:
    def __init__(
        self,
        app: ASGIApp,
        *,
        operations: Collection[str],
        operation_ids: dict[str, str],
        lifetime: timedelta,
        lease: timedelta,
    ) -> None:
        self.app = app
        self.operations = frozenset(operations)
        self.operation_ids = operation_ids  # Connexion's resolved name -> spec operationId
        self.lifetime = lifetime
        self.lease = lease
        self._claims = count(1)

    def _applies(self, scope: Scope) -> tuple[str, Principal] | None:
        if scope["type"] != "http":
            return None
        key = Headers(scope=scope).get(HEADER)
        caller = context_of(scope).caller
        resolved = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        if key is None or caller is None:
            return None
        if self.operation_ids.get(resolved, resolved) not in self.operations:
            return None
        return key, caller.principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        applies = self._applies(scope)
        if applies is None:
            await self.app(scope, receive, send)
            return
        key, principal = applies
        ctx = context_of(scope)
        db = ctx.services.db
        query = scope.get("query_string", b"").decode("latin-1")  # e.g. ?retailer_id=
        target = f"{scope['path']}?{query}" if query else scope["path"]
        print_ = fingerprint(scope["method"], target, Headers(scope=scope), ctx.body)
        holder = await db.run_write(
            _claim,
            principal=principal,
            key=key,
            fingerprint=print_,
            lease=self.lease,
            purge=next(self._claims) % PURGE_EVERY == 0,
        )
        if not isinstance(holder, idempotency.Claim):
            await _answer_for(holder, print_)(scope, receive, send)
            return
        claim = ctx.idempotency = holder

        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            await _release(db, claim)
            raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = start["status"] if start else 500
        if start is not None and 200 <= status < 300:
            if not ctx.idempotency_stored:  # a handler not built with ``request.create``
                body = b"".join(
                    m.get("body", b"") for m in held if m["type"] == "http.response.body"
                )
                await db.run_write(
                    _store_parts,
                    claim,
                    status,
                    _kept_headers(start.get("headers", [])),
                    body,
                    self.lifetime,
                )
        else:
            await _release(db, claim)
        for message in held:
            await send(message)


def store(session: Session, ctx: RequestContext, response: Response, lifetime: timedelta) -> None:
    """Store a create's 2xx under the request's key, in the create's own transaction
    (``tradepost.http.request.create``); nothing without a key. 409 (and the create
    rolled back) when the claim's lease ran out and another request holds the key."""
    if ctx.idempotency is None or not 200 <= response.status_code < 300:
        return
    _store_parts(
        session,
        ctx.idempotency,
        response.status_code,
        _kept_headers(response.raw_headers),
        bytes(response.body),
        lifetime,
    )
    ctx.idempotency_stored = True


def _kept_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in raw
        if name.decode("latin-1").lower() in REPLAYED_HEADERS
    }


def _store_parts(
    session: Session,
    claim: idempotency.Claim,
    status: int,
    headers: dict[str, str],
    body: bytes,
    lifetime: timedelta,
) -> None:
    try:
        idempotency.complete(
            session,
            claim,
            status_code=status,
            headers_json=orjson.dumps(headers).decode(),
            body=body.decode("utf-8"),
            lifetime=lifetime,
        )
    except idempotency.ClaimLost:
        raise _in_use() from None


def _claim(
    session: Session,
    *,
    principal: Principal,
    key: str,
    fingerprint: str,
    lease: timedelta,
    purge: bool,
) -> idempotency.Claim | idempotency.IdempotencyKey:
    """Claim the key in its own committed transaction; the holder, detached, if taken."""
    if purge:
        idempotency.purge_expired(session)
    holder = idempotency.claim(
        session, principal=principal, key=key, fingerprint=fingerprint, lease=lease
    )
    if isinstance(holder, idempotency.IdempotencyKey):
        session.expunge(holder)
    return holder


async def _release(db: Database, claim: idempotency.Claim) -> None:
    try:
        await db.run_write(idempotency.release, claim)
    except Exception:  # the original failure matters more; the lease runs out anyway
        logger.exception("could not release idempotency key")


def _in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry later.",
        code="idempotency_key_in_use",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _answer_for(holder: idempotency.IdempotencyKey, print_: str) -> ASGIApp:
    if holder.fingerprint != print_:
        raise Unprocessable(
            "This Idempotency-Key was already used for a different request "
            "(another method, path, tenant context or body); use a new key."
        )
    if holder.state != idempotency.COMPLETED or holder.status_code is None:
        raise _in_use()
    headers = orjson.loads(holder.response_headers or "{}")
    headers[REPLAYED] = "true"
    return Response(
        content=(holder.response_body or "").encode(),
        status_code=holder.status_code,
        headers=headers,
    )
