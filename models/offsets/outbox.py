"""The webhook outbox's queue operations: claim due deliveries, record how an attempt went.

Several processes share one queue. A claim is a lease: in one write transaction the
claimer picks due rows, stamps them with its own ``lease_token`` and ``lease_until`` and
counts the attempt; the HTTP request is made after that transaction, outside any lock.
A result is recorded only by the holder of the lease (``lease_token`` still matches), so
a delivery is in at most one claimer's hands at a time. A claimer that dies (SIGKILL)
leaves its rows leased until ``lease_until``; then they are due again. The lease is much
longer than an attempt's timeout, so a live claimer always records before it expires.

Locking: on PostgreSQL the claimer locks each webhook row it serves with
``FOR UPDATE SKIP LOCKED`` (two claimers never wait for each other, and never both serve
one webhook at once), which makes the per-endpoint limit hold across processes: in-flight
leases of a webhook are counted under its lock. On SQLite the write transaction
(``BEGIN IMMEDIATE``) already serialises claimers. Lock order is always webhook, then its
deliveries (claims, results and deletes alike), so they cannot deadlock.
"""

from __future__ import annotations

import secrets
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, update
from sqlmodel import Session, col, func, select

from models.offsets.webhooks import DELIVERED, FAILED, PENDING, Webhook, WebhookDelivery

MAX_WEBHOOKS_PER_CLAIM = 500


@dataclass(frozen=True, slots=True)
class Claim:
    """One leased delivery, with what sending it needs."""

    pk: int
    event_id: str
    tenant_id: str
    webhook_id: str
    endpoint_url: str
    signing_key: str
    body: bytes
    attempt: int  # 1 for the first attempt
    lease_token: str
    lease_until: datetime


def _due(now: datetime) -> Any:
    return and_(
        col(WebhookDelivery.state) == PENDING,
        col(WebhookDelivery.next_attempt_at) <= now,
        or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now),
    )


def has_due(session: Session, now: datetime) -> bool:
    """A cheap read first, so an idle worker never takes SQLite's write lock."""
    return session.exec(select(WebhookDelivery.pk).where(_due(now)).limit(1)).first() is not None


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    per_endpoint: int,
    lease: timedelta,
    per_tenant: int | None = None,
    held: Mapping[str, int] | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries, fairly.

    - At most ``per_endpoint`` in flight per webhook (leases of every process counted).
    - At most ``per_tenant`` in flight per tenant in the caller's process: ``held`` is what
      each tenant already has in flight there (None: no per-tenant limit).
    - Round robin: tenants take turns, one delivery per turn, the tenant holding the fewest
      of the caller's slots first (then the one whose oldest due event is oldest); within
      a tenant its webhooks take turns the same way, oldest first within a webhook. So a
      tenant with nothing in flight gets the next free slot, however old another tenant's
      backlog is.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    held = held or {}
    capped = sorted(t for t, n in held.items() if n >= per_tenant) if per_tenant is not None else []
    groups_query = (
        select(WebhookDelivery.tenant_id, WebhookDelivery.webhook_id, func.min(WebhookDelivery.pk))
        .where(_due(now))
        .group_by(WebhookDelivery.tenant_id, WebhookDelivery.webhook_id)
        .order_by(func.min(WebhookDelivery.pk))
        .limit(MAX_WEBHOOKS_PER_CLAIM)  # more than ``limit``: some may be at their limit
    )
    if capped:
        groups_query = groups_query.where(col(WebhookDelivery.tenant_id).not_in(capped))
    rotations: dict[str, deque[str]] = {}
    for tenant_id, webhook_id, _oldest in session.exec(groups_query).all():
        rotations.setdefault(tenant_id, deque()).append(webhook_id)
    # dicts keep insertion order: tenants by oldest due event; the stable sort puts the
    # ones holding fewer slots first.
    tenants = sorted(rotations, key=lambda t: held.get(t, 0))
    quota = {t: limit if per_tenant is None else per_tenant - held.get(t, 0) for t in tenants}
    queues: dict[str, deque[tuple[WebhookDelivery, Webhook]]] = {}
    claims: list[Claim] = []
    token = secrets.token_hex(16)
    lease_until = now + lease

    def next_row(tenant_id: str) -> tuple[WebhookDelivery, Webhook] | None:
        rotation = rotations[tenant_id]
        while rotation:
            webhook_id = rotation[0]
            if webhook_id not in queues:
                queues[webhook_id] = _due_rows(
                    session,
                    webhook_id,
                    now=now,
                    most=min(limit, quota[tenant_id]),
                    per_endpoint=per_endpoint,
                    postgres=postgres,
                )
            queue = queues[webhook_id]
            if queue:
                rotation.rotate(-1)  # this webhook's turn is over
                return queue.popleft()
            rotation.popleft()  # nothing (more) to take from it now
        return None

    while len(claims) < limit and tenants:
        for tenant_id in list(tenants):
            if len(claims) >= limit:
                break
            found = next_row(tenant_id) if quota[tenant_id] > 0 else None
            if found is None:
                tenants.remove(tenant_id)
                continue
            quota[tenant_id] -= 1
            row, hook = found
            assert row.pk is not None
            row.lease_token, row.lease_until = token, lease_until
            row.attempts += 1
            session.add(row)
            claims.append(
                Claim(
                    pk=row.pk,
                    event_id=row.event_id,
                    tenant_id=row.tenant_id,
                    webhook_id=hook.id,
                    endpoint_url=hook.endpoint_url,
                    signing_key=hook.signing_key,
                    body=row.body.encode(),
                    attempt=row.attempts,
                    lease_token=token,
                    lease_until=lease_until,
                )
            )
    session.flush()
    return claims


def _due_rows(
    session: Session,
    webhook_id: str,
    *,
    now: datetime,
    most: int,
    per_endpoint: int,
    postgres: bool,
) -> deque[tuple[WebhookDelivery, Webhook]]:
    """The webhook's due rows it has room for (oldest first), its row locked; none when
    another claimer holds the webhook or its in-flight deliveries are at the limit."""
    hook_query = select(Webhook).where(Webhook.id == webhook_id)
    if postgres:
        hook_query = hook_query.with_for_update(skip_locked=True)
    hook = session.exec(hook_query).first()
    if hook is None:  # locked by another claimer (or being deleted): its turn
        return deque()
    in_flight = session.exec(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.state == PENDING,
            col(WebhookDelivery.lease_until) >= now,
        )
    ).one()
    room = min(most, per_endpoint - in_flight)
    if room <= 0:
        return deque()
    rows = session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, _due(now))
        .order_by(col(WebhookDelivery.pk))
        .limit(room)
    ).all()
    return deque((row, hook) for row in rows)


def record_result(
    session: Session,
    claim: Claim,
    *,
    now: datetime,
    status: int | None,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """Record one attempt: delivered when ``error`` is None, else due again at
    ``retry_at`` (None: given up). False when the lease was lost (nothing recorded)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    hook_query = select(Webhook.pk).where(Webhook.id == claim.webhook_id)
    if postgres:
        hook_query = hook_query.with_for_update()
    hook_pk = session.exec(hook_query).first()
    if error is None:
        values: dict[str, Any] = {"state": DELIVERED, "delivered_at": now}
    elif retry_at is None:
        values = {"state": FAILED}
    else:
        values = {"next_attempt_at": retry_at}
    values.update(
        lease_token=None,
        lease_until=None,
        last_status=status,
        last_error=None if error is None else error[:300],
    )
    recorded = session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.pk) == claim.pk,
            col(WebhookDelivery.lease_token) == claim.lease_token,
            col(WebhookDelivery.state) == PENDING,
        )
        .values(**values)
    )
    if recorded.rowcount != 1 or hook_pk is None:  # type: ignore[attr-defined]
        return False
    counters: dict[str, Any] = (
        {"last_sent_at": now, "failed_attempts": 0}
        if error is None
        else {"last_failed_at": now, "failed_attempts": Webhook.failed_attempts + 1}
    )
    # Core UPDATE: delivery counters move no version (the ETag is the configuration's).
    session.execute(update(Webhook).where(col(Webhook.pk) == hook_pk).values(**counters))
    return True


def delivery_counts(session: Session) -> Counter[str]:
    """Rows per state (``pending``, ``delivered``, ``failed``), for the CLI and tests."""
    rows = session.exec(
        select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
    ).all()
    return Counter({state: count for state, count in rows})


# Retention and re-sending (the worker and the CLI)


def purge(session: Session, *, before: datetime) -> int:
    """Delete delivered rows delivered before ``before`` and given-up rows written before
    it; pending rows are never purged. The number deleted."""
    result = session.execute(
        delete(WebhookDelivery).where(
            or_(
                and_(
                    col(WebhookDelivery.state) == DELIVERED,
                    col(WebhookDelivery.delivered_at) < before,
                ),
                and_(
                    col(WebhookDelivery.state) == FAILED,
                    col(WebhookDelivery.created_at) < before,
                ),
            )
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def failed_deliveries(
    session: Session, *, tenant_id: str | None = None, limit: int = 1000
) -> list[WebhookDelivery]:
    """Given-up deliveries, oldest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.state == FAILED)
    if tenant_id is not None:
        query = query.where(WebhookDelivery.tenant_id == tenant_id)
    return list(session.exec(query.order_by(col(WebhookDelivery.pk)).limit(limit)))


def resend(
    session: Session,
    *,
    now: datetime,
    pks: list[int] | None = None,
    tenant_id: str | None = None,
) -> int:
    """Given-up deliveries (those of ``pks``, or all, or all of ``tenant_id``) due again
    now, with a fresh count of attempts; the same event id and body. The number queued."""
    query = update(WebhookDelivery).where(col(WebhookDelivery.state) == FAILED)
    if pks is not None:
        query = query.where(col(WebhookDelivery.pk).in_(pks))
    if tenant_id is not None:
        query = query.where(col(WebhookDelivery.tenant_id) == tenant_id)
    result = session.execute(
        query.values(
            state=PENDING, attempts=0, next_attempt_at=now, lease_token=None, lease_until=None
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
