"""Errors of the carbon-offset purchases API v2: a JSON array, as its document shows.

[{"code": "field_validation_error", "detail": "...",
  "source": {"id": "purchase_...", "attribute": "metadata.key", "model": "purchase"}}]
"""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from tradepost.errors import ApiError
from tradepost.surfaces.render import error_response

_CODES = {400: "field_validation_error", 401: "unauthorized"}


def render_error(error: ApiError, request_id: str) -> ConnexionResponse:
    code = _CODES.get(error.status, error.error_code)
    source_model, source_id = error.resource or (None, None)
    items: list[dict[str, Any]] = [
        {
            "code": code,
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
