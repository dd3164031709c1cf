"""API tokens and the principal they stand for.

A token is 32 random bytes, shown once when minted and stored only as its SHA-256
digest: a random token of that size needs no slow hash, and a digest cannot be replayed.
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


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one tenant (account), optionally one user within it."""

    token_id: int
    tenant_id: str
    user_id: str | None
    expires_at: datetime | None
    kind: str = "api"  # api | login (a Strategies customer's login token)

    @property
    def label(self) -> str:
        return f"{self.tenant_id}/{self.user_id}" if self.user_id else self.tenant_id


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    display_prefix: str = Field(max_length=16)
    tenant_id: str = Field(max_length=64, index=True)
    user_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16, default="api")  # api | login
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
    tenant_id: str,
    user_id: str | None = None,
    expires_at: datetime | None = None,
    kind: str = "api",
) -> tuple[str, ApiToken]:
    """Create a token; the plain value is returned here and never stored."""
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
