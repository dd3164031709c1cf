"""Errors of the carbon-offset purchases API v2: a JSON array, as its document shows.

[{"code": "field_validation_error", "detail": "...",
  "source": {"id": "purchase_...", "attribute": "metadata.key", "model": "purchase"}}]
"""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from tradepost.errors import ApiError, InvalidRequest
from tradepost.surfaces.render import error_response


def _code(error: ApiError) -> str:
    """The documented codes: ``field_validation_error`` for invalid input (a domain rule's
    own code, e.g. ``no_price_found``, stays), ``not_authorized`` for any bad API key."""
    if error.status == 401:
        return "not_authorized"
    if error.status == 400 and error.error_code == InvalidRequest.code:
        return "field_validation_error"
    return error.error_code


def render_error(error: ApiError, request_id: str) -> ConnexionResponse:
    code = _code(error)
    source_model, source_id = error.resource or (None, None)
    items: list[dict[str, Any]] = [
        {
            "code": field.code or code,
            "detail": f"{field.field} {field.message}" if field.field else field.message,
            "source": {"id": source_id, "attribute": field.field or None, "model": source_model},
        }
        for field in error.fields
    ] or [
        {
            "code": code,
            "detail": error.message,
            "source": {"id": source_id, "attribute": None, "model": source_model},
        }
    ]
    return error_response(error, items)
