"""Idempotency keys: the first completed response to a create, kept for replay.

A key belongs to one caller (``scope``: the tenant plus the user of a user-bound token,
or the token id of a tenant-wide one); the same key from another caller is another key.
Its life:

- ``claim`` inserts the row in state ``in_flight`` and commits it before the work starts.
  The unique constraint on (scope, key) lets exactly one request win, on SQLite and on
  PostgreSQL alike, across processes. A loser gets the existing row back instead.
  An in-flight claim is a lease (``expires_at`` = claim time + the lease, 30 s by
  default): a claim left by a process that was killed is taken over after it.
- ``complete`` stores the response (status, the headers worth replaying, the body) in
  the create's own transaction, so a create that committed always has its response
  stored; it refuses (``ClaimLost``) when the lease ran out and another request took
  the key, which rolls that create back: a create runs at most once per key.
- ``release`` deletes the claim when the request fails (4xx or 5xx): nothing is stored.
- Completed rows expire (``expires_at``, 24 h by default) and are purged by
  ``purge_expired`` (opportunistically by the service and by ``tradepost idempotency
  purge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Text, UniqueConstraint, delete, update
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


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this request holds: the row ``claim`` inserted, nobody else's. The row is
    named by ``pk`` and ``created_at`` together: SQLite may give a row inserted after a
    deleted one the same ``pk``, never the same claim time (a lease is at least 1 s)."""

    principal: Principal
    key: str
    fingerprint: str
    pk: int
    created_at: datetime


class ClaimLost(Exception):
    """The claim's lease ran out and another request holds the key now."""


def claim(
    session: Session, *, principal: Principal, key: str, fingerprint: str, lease: timedelta
) -> Claim | IdempotencyKey:
    """Insert an in-flight claim: the ``Claim`` when it was inserted, else the row that
    holds the key.

    Call it on a session of its own and commit right away (the claim must be visible to
    every other process before the work starts). The claim is leased: it expires after
    ``lease`` unless ``complete`` stored a response, so a claim left by a process that
    died is taken over by a retry after that bound. A taken-over claim cannot complete
    (``complete`` checks it is still the claim's own row), so the create runs at most
    once. An expired holder is replaced.
    """
    scope = scope_of(principal)
    now = utcnow()
    for _attempt in range(3):
        row = IdempotencyKey(
            tenant_id=principal.tenant_id,
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            state=IN_FLIGHT,
            created_at=now,
            expires_at=now + lease,
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
            # Expired, or a dead request's lease ran out. Only if it still is: a request
            # completing it meanwhile moved ``expires_at`` (PostgreSQL re-checks the
            # condition on the row it waited for), and then it is replayed instead.
            session.exec(
                delete(IdempotencyKey).where(
                    IdempotencyKey.pk == holder.pk,  # type: ignore[arg-type]
                    IdempotencyKey.expires_at <= now,  # type: ignore[arg-type]
                )
            )
            continue
        assert row.pk is not None
        return Claim(principal, key, fingerprint, row.pk, now)
    raise RuntimeError("idempotency key claim kept racing")  # pragma: no cover


def find(session: Session, *, scope: str, key: str) -> IdempotencyKey | None:
    statement = select(IdempotencyKey).where(
        IdempotencyKey.scope == scope, IdempotencyKey.key == key
    )
    return session.exec(statement).first()


def complete(
    session: Session,
    claim: Claim,
    *,
    status_code: int,
    headers_json: str,
    body: str,
    lifetime: timedelta,
) -> None:
    """Store the response under the claim, in the caller's transaction: the create's own,
    so the object and its response commit together or not at all. ``ClaimLost`` when the
    claim's lease ran out and another request holds the key (the caller rolls back)."""
    now = utcnow()
    values: dict[str, Any] = {
        "state": COMPLETED,
        "status_code": status_code,
        "response_headers": headers_json,
        "response_body": body,
        "expires_at": now + lifetime,
    }
    updated = session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.pk == claim.pk,  # type: ignore[arg-type]
            IdempotencyKey.created_at == claim.created_at,  # type: ignore[arg-type]
            IdempotencyKey.state == IN_FLIGHT,  # type: ignore[arg-type]
        )
        .values(**values)
    )
    if updated.rowcount == 1:  # type: ignore[attr-defined]
        return
    # The claim is gone: purged after its lease, or taken over. Store the response
    # anew unless another request holds the key (the unique constraint decides).
    session.add(
        IdempotencyKey(
            tenant_id=claim.principal.tenant_id,
            scope=scope_of(claim.principal),
            key=claim.key,
            fingerprint=claim.fingerprint,
            created_at=now,
            **values,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise ClaimLost(claim.key) from None


def release(session: Session, claim: Claim) -> None:
    """Give the claim up (the request failed): only its own row, only while in flight."""
    session.exec(
        delete(IdempotencyKey).where(
            IdempotencyKey.pk == claim.pk,  # type: ignore[arg-type]
            IdempotencyKey.created_at == claim.created_at,  # type: ignore[arg-type]
            IdempotencyKey.state == IN_FLIGHT,  # type: ignore[arg-type]
        )
    )


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete every expired key; how many went."""
    result = session.exec(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))  # type: ignore[arg-type]
    )
    return int(result.rowcount)
