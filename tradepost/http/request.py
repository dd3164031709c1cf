"""What handlers need from the request in flight, and how they answer.

Handlers read the request only through these functions: the validated body and the
caller come from the request context (``tradepost.http.context``), headers from the ASGI
scope, query parameters and URLs from Connexion's request.

Each attribute read on ``connexion.request`` builds a new ``ConnexionRequest`` (its proxy
is a factory), so what is read on every request goes through the ASGI scope instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from connexion import request
from connexion.context import scope
from sqlmodel import Session
from starlette.datastructures import URL, Headers
from starlette.responses import Response

from models.common.caller import Caller
from tradepost import jsonio
from tradepost.conditional import Precondition, matches_weakly, precondition
from tradepost.http import context, idempotency
from tradepost.http.context import RequestContext, context_of
from tradepost.http.services import Services

P = ParamSpec("P")
T = TypeVar("T")


def _context() -> RequestContext:
    return context_of(scope)


def services() -> Services:
    return _context().services


def body() -> Any:
    """The JSON body, already parsed and validated against the spec (read it once)."""
    return _context().take_body()


def header(name: str) -> str | None:
    return Headers(scope=scope).get(name)


def query_param(name: str) -> str | None:
    """A query parameter exactly as sent (Connexion hands handlers converted values)."""
    value: str | None = request.query_params.get(name)
    return value


def request_url() -> URL:
    url: URL = request.url
    return url


def base_url() -> str:
    """The service's own origin, for links in responses (``http://host:port``)."""
    return str(request.base_url).rstrip("/")


def client_address() -> str:
    """The client's address, for per-address limits (``tradepost.http.context``)."""
    return context.client_address(scope)


def request_id() -> str:
    """This request's id, as the ``X-Request-Id`` response header carries it."""
    return _context().request_id


def history_request_ids() -> tuple[str, str | None]:
    """The service's own id for this request and the caller's adopted one, as change
    history records them (``Caller``)."""
    ctx = _context()
    return ctx.service_request_id, ctx.client_request_id


def if_match() -> Precondition:
    """The update's ``If-Match`` precondition (unconditional without the header)."""
    return precondition(header("If-Match"))


def not_modified(if_none_match: str | None, current: str) -> Response | None:
    """The 304 answer (tag, no body) when ``If-None-Match`` names the current version."""
    if if_none_match is not None and matches_weakly(if_none_match, current):
        return Response(status_code=304, headers={"ETag": current})
    return None


def read_response(payload: Any, tag: str) -> Response:
    """A 200 with the resource's ``ETag``, or a bare 304 when ``If-None-Match`` names it."""
    return not_modified(header("If-None-Match"), tag) or json_response(
        payload, headers={"ETag": tag}
    )


def caller() -> Caller:
    """Who is calling: set by the bearer check, so only operations that need a token have one."""
    found = _context().caller
    if found is None:
        raise RuntimeError("caller() in an operation without a bearer token")
    return found


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        jsonio.dumps(payload), status_code=status, headers=headers, media_type="application/json"
    )


async def create(
    work: Callable[Concatenate[Session, P], T],
    respond: Callable[[T], Response],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Response:
    """A create: ``work(session, *args, **kwargs)`` and its answer ``respond(result)``, in
    one write transaction. With an ``Idempotency-Key`` the answer is stored under the key
    in that same transaction (``tradepost.http.idempotency``): the object and the response
    a retry replays commit together, whenever the process dies."""
    ctx = _context()
    lifetime = timedelta(hours=ctx.services.settings.idempotency_key_hours)

    def work_and_answer(session: Session) -> Response:
        answer = respond(work(session, *args, **kwargs))
        idempotency.store(session, ctx, answer, lifetime)
        return answer

    return await ctx.services.db.run_write(work_and_answer)
