"""What every trade API handler shares: the caller the tenancy headers name, and the
reference's envelope."""

from __future__ import annotations

from typing import Any

from models.common.caller import Caller
from tradepost.http.request import caller, header


def header_caller() -> Caller:
    """The token's caller, acting for the tenant and user the headers name (else 403)."""
    return caller().naming(
        tenant_id=header("tenantId") or "",
        user_id=header("userId") or "",
        country_code=header("countryCode"),
    )


def optional_header_caller() -> Caller:
    """``header_caller`` where the page makes the headers optional: each one left out is
    the token's own (a tenant-wide token without ``userId`` acts as the tenant)."""
    token = caller()
    return token.naming(
        tenant_id=header("tenantId") or token.tenant_id,
        user_id=header("userId") or token.user_id or "",
        country_code=header("countryCode"),
    )


def envelope(status: int, message: str, data: Any) -> dict[str, Any]:
    """The newer pages' answer: ``{status, statusCode, message, data, errors}``."""
    return {"status": True, "statusCode": status, "message": message, "data": data, "errors": []}
