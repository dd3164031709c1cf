"""What a request carries from the socket to the handler, and who sets each part.

One typed ``RequestContext`` per request, kept in the ASGI scope's state under one key.
The stack, outermost first (``tradepost.app.create_app`` assembles it), and what each
layer adds::

    uvicorn                      scope["state"]: a copy of the lifespan state (Services)
    RequestLog                   creates the context: services, request_id; on the way out,
      (tradepost.http.middleware)     the request-id header, one log line, the metrics
    Connexion error middleware   any exception -> ApiError -> the surface's renderer
    BodyLimit                    413 before an oversize body is read
      (tradepost.http.middleware)
    CanonicalRequest             400 on a non-UTF-8 target; lower-cases the media type
      (connexion_glue.canonical)
    Connexion routing            which operation (scope extensions)
    Connexion security           tradepost.http.auth.bearer_info sets ``caller``
    Connexion validation         connexion_glue.validation sets ``body`` (parsed, valid)
    Idempotency                  replays or stores creates; reads ``caller`` and ``body``
      (tradepost.http.idempotency)
    handler                      handlers/<surface>.py read the context via tradepost.http.request

Nothing else travels in ``scope["state"]``: a reader can see here where every value of a
request comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.common.caller import Caller
    from models.common.idempotency import Claim
    from tradepost.http.services import Services

_KEY = "tradepost"


@dataclass(slots=True)
class RequestContext:
    services: Services
    """Built once by the lifespan (settings, database, token cache, metrics, limiter)."""

    request_id: str
    """Adopted from a well-formed ``X-Request-Id`` or generated (``RequestLog``): what the
    response and the log line carry."""

    service_request_id: str = ""
    """The service's own id for the request, never the caller's: ``request_id`` when it
    was generated, else a new one. Change history records it."""

    client_request_id: str | None = None
    """The caller's ``X-Request-Id`` when it was adopted (history keeps it apart)."""

    caller: Caller | None = None
    """Who is calling (the token's principal and this request id), once the bearer check
    passed (``bearer_info``)."""

    body: Any = None
    """The JSON body, parsed and validated against the spec (``JSONBodyValidator``)."""

    idempotency: Claim | None = None
    """The ``Idempotency-Key`` this create holds (``Idempotency``); its response is stored
    with it in the create's own transaction (``tradepost.http.request.create``)."""

    idempotency_stored: bool = False
    """Set once that response is stored (the middleware then stores nothing itself)."""

    def take_body(self) -> Any:
        """The body, released from the context so it is freed with the handler's frame."""
        body, self.body = self.body, None
        return body


def start(
    scope: Any, request_id: str, *, service_request_id: str, client_request_id: str | None
) -> RequestContext:
    """Create the request's context (``RequestLog`` calls this first)."""
    state = scope.setdefault("state", {})
    context = RequestContext(
        services=state["services"],
        request_id=request_id,
        service_request_id=service_request_id,
        client_request_id=client_request_id,
    )
    state[_KEY] = context
    return context


def client_address(scope: Any) -> str:
    """The client's address (uvicorn's: the peer, or ``X-Forwarded-For`` from a proxy it
    trusts); ``"unknown"`` when the server gives none."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def context_of(scope: Any) -> RequestContext:
    context: RequestContext = scope["state"][_KEY]
    return context
