"""Who is calling: the one object every domain function takes to scope and record its work.

A ``Caller`` is built once per request by the bearer check (``tradepost.http.auth``) from the
token's ``Principal`` and the request id; the trade API narrows it with the tenancy
headers it names (``Caller.naming``). The CLI builds one without a request id, a public
link (the trade accept link) one without a token (``Caller.for_link``).

Domain functions read three things from it: the tenant that scopes every query
(``tenant_id``), the acting user (``user_id``; for a user token, the token's own user),
and, for history entries, the token and request behind the change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from models.common.tokens import Principal
from tradepost.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    """What the token stands for: its tenant and, for a user token, its user."""

    request_id: str | None = None
    """Recorded with every change the caller makes (None from the CLI)."""

    user_id: str | None = None
    """The acting user: the token's, or the one the trade API's ``userId`` header names."""

    country_code: str | None = None
    """The trade API's ``countryCode`` header (None elsewhere)."""

    client_request_id: str | None = None
    """The caller's own ``X-Request-Id`` (well-formed, adopted), recorded apart from
    ``request_id``, the service's own id for the request."""

    @classmethod
    def of(
        cls,
        principal: Principal,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> Caller:
        """The caller a token stands for, acting as its own user (if any)."""
        return cls(principal, request_id, principal.user_id, None, client_request_id)

    @classmethod
    def for_tenant(cls, tenant_id: str) -> Caller:
        """A tenant-wide caller without a token or a request (the CLI, seeds and tests)."""
        return cls(Principal(0, tenant_id, None, None))

    @classmethod
    def for_link(
        cls,
        tenant_id: str,
        user_id: str,
        request_id: str | None,
        client_request_id: str | None = None,
    ) -> Caller:
        """A caller without a token, identified by what a public link names."""
        principal = Principal(0, tenant_id, user_id, None)
        return cls(principal, request_id, user_id, None, client_request_id)

    @property
    def tenant_id(self) -> str:
        """The tenant every read and write is scoped to."""
        return self.principal.tenant_id

    @property
    def is_user_token(self) -> bool:
        """A user token acts for its own user only; a tenant token for any of the tenant's."""
        return self.principal.user_id is not None

    @property
    def label(self) -> str:
        return self.principal.label

    def naming(self, tenant_id: str, user_id: str, country_code: str | None) -> Caller:
        """The trade API's tenancy headers, checked against the token: 403 unless they
        name the token's tenant (and, for a user token, its user)."""
        if tenant_id != self.principal.tenant_id:
            raise Forbidden(f"The token does not belong to tenant {tenant_id!r}.")
        if self.is_user_token and user_id != self.principal.user_id:
            raise Forbidden(f"The token does not belong to user {user_id!r}.")
        return replace(self, user_id=user_id, country_code=country_code)
