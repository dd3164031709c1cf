"""What handlers need from the request in flight, and how they answer."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import Response

from models.tokens import Principal
from tradepost import jsonio
from tradepost.conditional import Precondition, not_modified, precondition
from tradepost.middleware import request_id_of
from tradepost.services import Services, services_of
from tradepost.validation import take_body


def services() -> Services:
    return services_of(request.scope)


def body() -> Any:
    """The JSON body, already parsed and validated against the spec (read it once)."""
    return take_body(request.scope)


def header(name: str) -> str | None:
    value: str | None = request.headers.get(name)
    return value


def request_id() -> str:
    """This request's id, as the ``X-Request-Id`` response header carries it."""
    return request_id_of(request.scope)


def if_match() -> Precondition:
    """The update's ``If-Match`` precondition (unconditional without the header)."""
    return precondition(header("If-Match"))


def read_response(payload: Any, tag: str) -> Response:
    """A 200 with the resource's ``ETag``, or a bare 304 when ``If-None-Match`` names it."""
    return not_modified(header("If-None-Match"), tag) or json_response(
        payload, headers={"ETag": tag}
    )


def principal(token_info: dict[str, Any]) -> Principal:
    found: Principal = token_info["principal"]
    return found


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        jsonio.dumps(payload), status_code=status, headers=headers, media_type="application/json"
    )
