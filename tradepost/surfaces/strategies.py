"""Errors of the Strategies API v0, as its document shows them.

Authentication and permission failures use ``{"detail": ...}`` (the document's 401);
everything else uses ``{"error": ...}`` (its 400 and 404), naming the failing field.
"""

from __future__ import annotations

from connexion.lifecycle import ConnexionResponse

from tradepost.errors import ApiError, FieldError
from tradepost.surfaces.render import error_response

_AUTH_DETAIL = {
    "not_authenticated": "Authentication credentials were not provided.",
    "invalid_token": "Invalid token.",
    "token_expired": "Token has expired.",
}
_DETAIL_STATUSES = {401, 403, 405, 415, 429}


def render_error(error: ApiError, request_id: str) -> ConnexionResponse:
    if error.status == 401:
        return error_response(error, {"detail": _AUTH_DETAIL.get(error.error_code, error.message)})
    if error.status in _DETAIL_STATUSES:
        return error_response(error, {"detail": error.message})
    return error_response(error, {"error": _message(error)})


def _message(error: ApiError) -> str:
    field = error.field
    if field is None or not field.field:
        if field is None or field.message.lower() in error.message.lower():
            return error.message
        return f"{error.message[:-1]}: {field.message}."
    return describe(field)


def describe(field: FieldError) -> str:
    if field.message == "is required":
        kind = "field" if field.location == "body" else f"{field.location} parameter"
        return f'Missing required {kind} "{field.field}".'
    return f'Invalid value for "{field.field}": {field.message}.'
