"""Idempotency keys: the first completed response to a create, kept for replay.

A key belongs to one caller (``scope``: the tenant plus the user of a user-bound token,
or the token id of a tenant-wide one); the same key from another caller is another key.
Its life:

- ``claim`` inserts the row in state ``in_flight`` and commits it before the work starts.
  The unique constraint on (scope, key) lets exactly one request win, on SQLite and on
  PostgreSQL alike, across processes. A loser gets the existing row back instead.
- ``complete`` stores the response (status, the headers worth replaying, the body).
- ``release`` deletes the claim when the request fails (4xx or 5xx): nothing is stored.
- Rows expire (``expires_at``, 24 h by default) and are purged by ``purge_expired``
  (opportunistically by the service and by ``tradepost idempotency purge``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Column, Integer, String, Text, UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from models.common.tokens import Principal
from models.common.types import UTCDateTime, utcnow

IN_FLIGHT = "in_flight"
COMPLETED = "completed"


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),)

    pk: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    tenant_id: str = Field(max_length=64)
    scope: str = Field(max_length=160)
    key: str = Field(sa_column=Column(String(255), nullable=False))
    fingerprint: str = Field(max_length=64)  # SHA-256 of method, path and canonical body
    state: str = Field(max_length=16)
    status_code: int | None = Field(default=None)
    response_headers: str | None = Field(default=None, sa_column=Column(Text))  # JSON object
    response_body: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


def scope_of(principal: Principal) -> str:
    """The caller a key belongs to: never the token itself."""
    if principal.user_id is not None:
        return f"{principal.tenant_id}/user:{principal.user_id}"
    return f"{principal.tenant_id}/token:{principal.token_id}"


def claim(
    session: Session, *, principal: Principal, key: str, fingerprint: str, lifetime: timedelta
) -> IdempotencyKey | None:
    """Insert an in-flight claim; None when it was inserted, else the row that holds the key.

    Call it on a session of its own and commit right away (the claim must be visible to
    every other process before the work starts). An expired holder is replaced.
    """
    scope = scope_of(principal)
    now = utcnow()
    for _attempt in range(2):
        row = IdempotencyKey(
            tenant_id=principal.tenant_id,
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            state=IN_FLIGHT,
            created_at=now,
            expires_at=now + lifetime,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            holder = find(session, scope=scope, key=key)
            if holder is None:  # released meanwhile: try again
                continue
            if holder.expires_at > now:
                return holder
            session.exec(delete(IdempotencyKey).where(IdempotencyKey.pk == holder.pk))  # type: ignore[arg-type]
            continue
        return None
    raise RuntimeError("idempotency key claim kept racing")  # pragma: no cover


def find(session: Session, *, scope: str, key: str) -> IdempotencyKey | None:
    statement = select(IdempotencyKey).where(
        IdempotencyKey.scope == scope, IdempotencyKey.key == key
    )
    return session.exec(statement).first()


def complete(
    session: Session,
    *,
    principal: Principal,
    key: str,
    status_code: int,
    headers_json: str,
    body: str,
) -> None:
    row = find(session, scope=scope_of(principal), key=key)
    if row is None:  # pragma: no cover (only purge could remove an in-flight claim)
        return
    row.state = COMPLETED
    row.status_code = status_code
    row.response_headers = headers_json
    row.response_body = body
    session.add(row)


def release(session: Session, *, principal: Principal, key: str) -> None:
    session.exec(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope_of(principal),  # type: ignore[arg-type]
            IdempotencyKey.key == key,  # type: ignore[arg-type]
            IdempotencyKey.state == IN_FLIGHT,  # type: ignore[arg-type]
        )
    )


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete every expired key; how many went."""
    result = session.exec(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))  # type: ignore[arg-type]
    )
    return int(result.rowcount)
