"""``CanonicalRequest``: what Connexion matches case- and byte-sensitively, made canonical
before routing.

- A path or query string whose percent-escapes are not UTF-8 is 400, naming the
  parameter. The server would otherwise hand the application U+FFFD in their place (a
  well-formed but different value: on the free-text ``/v2/purchases/{id}``, a lookup).
  Pinned by tests/platform/test_hostile.py (non-UTF-8 escapes per parameter).
- A path segment with a line break once percent-decoded (``%0A``) matches no route (other
  control characters reach validation), so the router answered 404, a status the
  Strategies operations do not document. On the trade and Strategies surfaces, whose path
  parameters all forbid it by pattern or format, it is 400 naming the parameter; on the
  carbon-offset surface ``{id}`` is free text and "no such purchase" (404) is documented.
  Pinned by tests/platform/test_sharp_edges.py.
- A fixed path that a template also matches (``/api/v1/trades/negotiations`` against
  ``/api/v1/trades/{tradeId}``) answers 405 for a method it does not define, instead of
  the template's handler taking the word as an id (``AllowedMethods.static_methods``).
- HEAD on a GET that changes state (``routing.STATE_CHANGING_GETS``: the buyer's accept link) is
  405 with ``Allow: GET``; Starlette would run the GET's handler for it.
  Pinned by tests/trades/test_reference.py (TestAcceptLink).
- The media type of ``Content-Type`` is case-insensitive (RFC 9110), but Connexion looks
  the body's schema and validator up case-sensitively: ``Application/JSON`` skipped body
  validation and reached the handler without a body (a 500). It is lower-cased here.
  Pinned by tests/platform/test_sharp_edges.py (media type case on every write).
- The carbon-offset API's official client before 0.5.1 sent an empty ``expand[]`` array
  as ``expand=[]`` (a literal ``[]``); on ``/v2/`` that pair is dropped (no parameter).
  Pinned by tests/test_offsets*.py (both escape spellings).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from tradepost.connexion_glue.routing import AllowedMethods
from tradepost.errors import FieldError, InvalidRequest, MethodNotAllowed
from tradepost.surfaces import OFFSETS, surface_for


class CanonicalRequest:
    """Refuses a target that is not UTF-8 text; lower-cases the body's media type."""

    def __init__(self, app: ASGIApp, *, routes: AllowedMethods) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            static = self.routes.static_methods(scope["path"])
            if static is not None and scope["method"] not in static:
                raise MethodNotAllowed("Method Not Allowed")
            if scope["method"] == "HEAD" and self.routes.head_refused(scope["path"]):
                raise MethodNotAllowed("Method Not Allowed")
            problem = self._path_problem(scope) or _query_problem(scope.get("query_string", b""))
            if problem is not None:
                what = "is not UTF-8 text" if "UTF-8" in problem.message else problem.message
                raise InvalidRequest(
                    f"The {problem.location} parameter {problem.field!r} {what}."
                    if problem.field
                    else f"The request {problem.location} {what}.",
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
            decoded = unquote_to_bytes(segment)
            if not _is_text(decoded):
                name = self.routes.parameter_at(scope["path"], index) or ""
                return FieldError("path", name, "is not UTF-8 text once percent-decoded")
            if b"\n" in decoded and surface_for(scope["path"]) is not OFFSETS:
                name = self.routes.parameter_at(scope["path"], index) or ""
                return FieldError("path", name, "contains a line break")
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
