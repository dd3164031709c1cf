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
    ├── TooManyRequests            429     the rate limiter
    └── ServiceUnavailable         503     the database is unreachable or read-only
                                           (``database_unavailable``, applied by
                                           ``tradepost.db.Database.run_read/run_write``)

The framework's own exceptions (Connexion's ``ProblemException``, Starlette's
``HTTPException``) are translated by ``tradepost.connexion_glue.errors``; anything else is
a 500 that says nothing about internals. This module imports no web framework, so the
domain (``models/``) raises these directly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import exc as sa_exc


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


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"


RETRY_AFTER_SECONDS = 5  # how long a client should wait before retrying a 503
READ_ONLY = "database_read_only"
UNREACHABLE = "database_unavailable"

# PostgreSQL SQLSTATEs that mean "the database cannot take this now", not "this request
# is wrong": connection exceptions (class 08), insufficient resources (53), the server
# shutting down or starting up (57P01-57P03), and a read-only transaction (25006: a hot
# standby or ``default_transaction_read_only``).
_PG_READ_ONLY = "25006"
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE = frozenset({"57P01", "57P02", "57P03"})
# SQLite result codes of the same kinds (extended codes share the primary's prefix).
_SQLITE_READ_ONLY = "SQLITE_READONLY"
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_FULL")


def database_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 (with ``Retry-After``) a database failure stands for, or None when the
    failure is not the database being unavailable or read-only (then it stays a 500)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return _unavailable(UNREACHABLE)
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", "") or ""
        if name.startswith(_SQLITE_READ_ONLY):
            return _unavailable(READ_ONLY)
        return _unavailable(UNREACHABLE) if name.startswith(_SQLITE_UNAVAILABLE) else None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == _PG_READ_ONLY:
        return _unavailable(READ_ONLY)
    if sqlstate is not None and (
        sqlstate.startswith(_PG_UNAVAILABLE_CLASSES) or sqlstate in _PG_UNAVAILABLE
    ):
        return _unavailable(UNREACHABLE)
    if exc.connection_invalidated:  # the connection broke under the statement
        return _unavailable(UNREACHABLE)
    if sqlstate is None and isinstance(exc, sa_exc.OperationalError):
        return _unavailable(UNREACHABLE)  # a connection that could not be made
    return None


def _unavailable(code: str) -> ServiceUnavailable:
    message = (
        "The database is read-only for now; writes are refused. Retry later."
        if code == READ_ONLY
        else "The database is unavailable. Retry later."
    )
    return ServiceUnavailable(message, code=code, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
