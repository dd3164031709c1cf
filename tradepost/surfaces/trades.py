"""Errors of the trade API v1 (and of the service's own paths).

The public document gives no error body, so this surface uses one plain shape::

    {"code": "validation_error", "message": "Request body is invalid.",
     "errors": [{"location": "body", "field": "quantity", "message": "..."}],
     "requestId": "..."}
"""

from __future__ import annotations

from connexion.lifecycle import ConnexionResponse

from tradepost.errors import ApiError
from tradepost.surfaces.render import error_response


def render_error(error: ApiError, request_id: str) -> ConnexionResponse:
    body = {
        "code": error.error_code,
        "message": error.message,
        "errors": [
            {"location": f.location, "field": f.field, "message": f.message} for f in error.fields
        ],
        "requestId": request_id,
    }
    return error_response(error, body)
