"""The service's error vocabulary.

Every failure, whoever raises it, becomes one ``ApiError`` before a surface renders it:

    ApiError                       status  raised by
    ├── InvalidRequest             400     body/parameter validators, domain rules
    ├── Unauthenticated            401     the bearer check
    ├── Forbidden                  403     tenancy and ownership rules
    ├── NotFound                   404     scoped getters, the router
    ├── MethodNotAllowed           405     the router (with a complete ``Allow``)
    ├── Conflict                   409     state rules, uniqueness
    ├── PreconditionFailed         412     ``If-Match``
    ├── PayloadTooLarge            413     the body size limit
    ├── UnsupportedMediaType       415     content negotiation
    ├── Unprocessable              422     idempotency-key reuse
    └── TooManyRequests            429     the rate limiter

The framework's own exceptions (Connexion's ``ProblemException``, Starlette's
``HTTPException``) are translated by ``tradepost.connexion_glue.errors``; anything else is
a 500 that says nothing about internals. This module imports no web framework, so the
domain (``models/``) raises these directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    location: str  # body, path, query, header
    field: str  # "quantity", "docLinks[0].link", "tenantId"
    message: str
    code: str | None = None  # this field's own error code, where it differs from the error's


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        code: str | None = None,
        resource: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = tuple(fields)
        self.headers = headers or {}
        self.error_code = code or self.code
        self.resource = resource  # (model, id) of the record the error is about

    @property
    def status_code(self) -> int:  # read by Connexion when it picks among auth errors
        return self.status

    @property
    def field(self) -> FieldError | None:
        return self.fields[0] if self.fields else None


class InvalidRequest(ApiError):
    status, code = 400, "validation_error"


class Unauthenticated(ApiError):
    status, code = 401, "not_authenticated"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PreconditionFailed(ApiError):
    status, code = 412, "precondition_failed"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    status, code = 422, "unprocessable"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"


class InternalError(ApiError):
    status, code = 500, "internal_error"
