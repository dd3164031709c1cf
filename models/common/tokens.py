"""Credentials (bearer tokens), the one surface each is for, and the principal it stands for.

A token is 32 random bytes, shown once when minted and stored only as its SHA-256
digest: a random token of that size needs no slow hash, and a digest cannot be replayed.

Every token has a kind, the surface that accepts it, and no other does (401 there):

- ``trades``: a trade API token (``tradepost tokens create --surface trades``) for one
  tenant, bound to one user of it or tenant-wide (acting as the user the ``userId``
  header names);
- ``offsets``: a carbon-offset API key (``--surface offsets``) for one client (tenant),
  never bound to a user;
- ``strategies``: a Strategies customer's token, minted by its login (expiring, revoked
  by a password change), bound to the customer (tenant and username);
- ``trades+offsets``: only made by migration 0010 for a tenant-wide token of before the
  kinds whose tenant's data named neither surface alone (see that migration).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, Session, SQLModel, select

from models.common.types import UTCDateTime, utcnow

TOKEN_PREFIX = "tp_"  # noqa: S105 (a prefix, not a secret)

TRADES = "trades"
OFFSETS = "offsets"
STRATEGIES = "strategies"
LEGACY = "trades+offsets"  # tenant-wide tokens of before the kinds (migration 0010)
KINDS = (TRADES, OFFSETS, STRATEGIES, LEGACY)
MINTABLE = (TRADES, OFFSETS)  # by the CLI; Strategies tokens come from login


def surfaces_of(kind: str) -> frozenset[str]:
    """The surfaces (``tradepost.surfaces`` names) that accept a token of this kind."""
    return frozenset(kind.split("+")) if kind in KINDS else frozenset()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one tenant (account), optionally one user within it, through a
    token of one kind (``""``: no token, the CLI, seeds and public links)."""

    token_id: int
    tenant_id: str
    user_id: str | None
    expires_at: datetime | None
    kind: str = ""

    @property
    def label(self) -> str:
        return f"{self.tenant_id}/{self.user_id}" if self.user_id else self.tenant_id

    def accepted_on(self, surface: str) -> bool:
        return surface in surfaces_of(self.kind)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    display_prefix: str = Field(max_length=16)
    tenant_id: str = Field(max_length=64, index=True)
    user_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16)  # TRADES | OFFSETS | STRATEGIES | LEGACY
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    def principal(self) -> Principal:
        assert self.id is not None
        return Principal(self.id, self.tenant_id, self.user_id, self.expires_at, self.kind)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token(
    session: Session,
    *,
    kind: str,
    tenant_id: str,
    user_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiToken]:
    """Create a token of ``kind``; the plain value is returned here and never stored.
    An offsets key names no user (it is the client's), a Strategies token its customer."""
    if kind not in (TRADES, OFFSETS, STRATEGIES):
        raise ValueError(f"cannot mint a token of kind {kind!r}")
    if kind == OFFSETS and user_id is not None:
        raise ValueError("a carbon-offset API key belongs to a client, not to a user")
    if kind == STRATEGIES and user_id is None:
        raise ValueError("a Strategies token belongs to a customer (a user)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=hash_token(token),
        display_prefix=token[:10],
        tenant_id=tenant_id,
        user_id=user_id,
        kind=kind,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return token, row


def find_token(session: Session, token_hash: str) -> ApiToken | None:
    """The token's row if it exists and was not revoked (expiry is the caller's call)."""
    statement = select(ApiToken).where(
        ApiToken.token_hash == token_hash,
        ApiToken.revoked_at.is_(None),  # type: ignore[union-attr]
    )
    return session.exec(statement).first()


def find_principal(session: Session, token_hash: str) -> Principal | None:
    """Who a live (unrevoked) token stands for; expiry is the caller's call."""
    row = find_token(session, token_hash)
    return None if row is None else row.principal()


def list_tokens(session: Session, *, tenant_id: str | None = None) -> list[ApiToken]:
    statement = select(ApiToken).order_by(ApiToken.id)  # type: ignore[arg-type]
    if tenant_id is not None:
        statement = statement.where(ApiToken.tenant_id == tenant_id)
    return list(session.exec(statement))


def revoke_token(session: Session, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.add(row)
    return True
