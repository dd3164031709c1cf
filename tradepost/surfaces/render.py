"""What every surface's error response shares: JSON bytes plus the protocol headers."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from tradepost import jsonio
from tradepost.errors import ApiError


def error_response(error: ApiError, body: Any) -> ConnexionResponse:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="tradepost"')
    return ConnexionResponse(
        status_code=error.status,
        mimetype="application/json",
        body=jsonio.dumps(body),
        headers=headers,
    )
