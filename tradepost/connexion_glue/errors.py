"""Framework exceptions -> the service's ``ApiError`` vocabulary (tradepost.errors).

Connexion raises ``ProblemException`` subclasses for request problems (400, 401, 415...)
and Starlette ``HTTPException`` for router 404/405; each surface renders only
``ApiError``. A missing token and a bad token are both 401 to Connexion; they differ
only in its detail text, which is matched here (pinned by tests/strategies/test_strategies.py,
whose document gives the two texts).
"""

from __future__ import annotations

from typing import Any

from connexion.exceptions import ProblemException
from starlette.exceptions import HTTPException

from tradepost.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    TooManyRequests,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
)

_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        InvalidRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        TooManyRequests,
    )
}

NO_CREDENTIALS = "No authorization token provided"


def from_exception(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ProblemException):
        return _from_status(exc.status, str(exc.detail or exc.title or ""), exc.headers, exc)
    if isinstance(exc, HTTPException):
        return _from_status(exc.status_code, str(exc.detail or ""), exc.headers, exc)
    return InternalError("The server could not complete the request.")


def _from_status(status: int, detail: str, headers: Any, exc: BaseException) -> ApiError:
    cls = _BY_STATUS.get(status)
    if cls is None:
        return InternalError("The server could not complete the request.")
    if cls is Unauthenticated:
        if detail == NO_CREDENTIALS:
            return Unauthenticated("Authentication credentials were not provided.")
        return Unauthenticated("Invalid token.", code="invalid_token")
    return cls(detail or cls.code.replace("_", " "), headers=dict(headers or {}))
