"""The webhook delivery worker: takes events from the outbox and POSTs them, signed.

Each server process runs one (``tradepost serve``; ``tradepost webhooks deliver`` runs it
alone). It never blocks the event loop: HTTP goes through ``httpx.AsyncClient``, and
database work (``models.offsets.outbox``) runs on the database threads
(``Database.run_read``/``run_write``).

A request is ``POST <endpoint_url>`` with the event's stored body ``{"data": {...}}`` and

    Content-Type: application/json
    Squake-Signature: <hex HMAC-SHA256 of the raw body, keyed with the signing_key>
    Squake-Timestamp: <ISO 8601 time of sending>
    Squake-Event-Id: <data.id: the same on every attempt, for de-duplication>
    Tradepost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + raw body>

The documented ``Squake-Signature`` covers the body only, so a captured delivery could
be replayed with a fresh ``Squake-Timestamp``; ``Tradepost-Signature`` (Stripe's scheme)
signs the time with the body: a receiver that checks it and refuses a ``t`` more than a
few minutes old refuses replays.

Any 2xx within the timeout is a delivery; anything else (other statuses, redirects,
timeouts, connection errors, a refused address) is a failed attempt, retried after
``retry_seconds * 2**(attempt-1)`` (capped, with up to 20% less jitter) until
``max_attempts``.

Guarantees: an event is never lost (its row is written with the change and deleted only
with its webhook; a killed worker's leases expire and the rows are claimed again), and a
delivery whose 2xx has been recorded is never sent again. Between a receiver's 2xx and
that record (a few milliseconds, or a crash) a delivery may be repeated: receivers
de-duplicate on ``data.id`` / ``Squake-Event-Id``.

Fairness: a slow receiver holds at most ``per_endpoint`` of the ``concurrency`` slots,
each for at most ``timeout_seconds``, and one tenant (all its webhooks together) at most
``per_tenant`` of a process's slots. Claims go round robin over tenants, the tenant
holding the fewest slots first (``models.offsets.outbox.claim_due``). The bound that gives:
while fewer than ``concurrency / per_tenant`` tenants (4 by default) fill their share,
another tenant's due event is claimed within ``poll_seconds``; beyond that, a tenant with
nothing in flight gets the next slot that frees, within ``timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from models.common.types import utcnow
from models.offsets import outbox as webhook_outbox
from models.offsets.outbox import Claim
from tradepost.db import Database
from tradepost.settings import Settings
from tradepost.workers import egress

logger = logging.getLogger("tradepost.workers.webhooks")
USER_AGENT = "tradepost-webhooks/1"
PURGE_SECONDS = 3600.0


def signature(signing_key: str, body: bytes) -> str:
    return hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()


def timestamped_signature(signing_key: str, body: bytes, unix_time: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`` (Stripe's scheme): the
    time is signed with the body, so a captured delivery cannot be replayed as new."""
    signed = hmac.new(signing_key.encode(), f"{unix_time}.".encode() + body, hashlib.sha256)
    return f"t={unix_time},v1={signed.hexdigest()}"


def headers_for(claim: Claim, sent_at: datetime) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Squake-Signature": signature(claim.signing_key, claim.body),
        "Squake-Timestamp": sent_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "Squake-Event-Id": claim.event_id,
        "Tradepost-Signature": timestamped_signature(
            claim.signing_key, claim.body, int(sent_at.timestamp())
        ),
    }


@dataclass(frozen=True, slots=True)
class Policy:
    concurrency: int
    per_endpoint: int
    per_tenant: int
    timeout: float
    lease: timedelta
    poll: float
    retry: float
    retry_max: float
    max_attempts: int
    allow_private: bool
    retention: timedelta | None = None  # None: keep delivered and given-up rows

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            concurrency=settings.webhooks_concurrency,
            per_endpoint=settings.webhooks_per_endpoint,
            per_tenant=settings.webhooks_per_tenant,
            timeout=settings.webhooks_timeout_seconds,
            lease=timedelta(seconds=settings.webhooks_lease_seconds),
            poll=settings.webhooks_poll_seconds,
            retry=settings.webhooks_retry_seconds,
            retry_max=settings.webhooks_retry_max_seconds,
            max_attempts=settings.webhooks_max_attempts,
            allow_private=settings.webhooks_allow_private,
            retention=timedelta(days=settings.webhooks_retention_days)
            if settings.webhooks_retention_days > 0
            else None,
        )

    def retry_at(self, attempt: int, now: datetime) -> datetime | None:
        """When to try again after failed attempt number ``attempt`` (None: give up)."""
        if attempt >= self.max_attempts:
            return None
        delay = min(self.retry_max, self.retry * 2 ** (attempt - 1))
        return now + timedelta(seconds=delay * random.uniform(0.8, 1.0))  # noqa: S311


class Worker:
    """``await worker.run()`` until ``stop()``; or ``start()``/``stop()`` from a lifespan."""

    def __init__(self, db: Database, policy: Policy, *, until_idle: bool = False) -> None:
        self.db = db
        self.policy = policy
        self.until_idle = until_idle  # return once nothing is due or in flight (CLI, tests)
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._held: Counter[str] = Counter()  # deliveries in flight here, per tenant
        self._next_purge = 0.0
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="webhook-worker")

    async def stop(self) -> None:
        """Stop claiming, let attempts in flight finish (each within its timeout)."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.policy.concurrency)
        async with httpx.AsyncClient(
            limits=limits, follow_redirects=False, trust_env=False
        ) as client:
            while not self._stopping.is_set():
                await self._purge_now_and_then()
                claimed = await self._claim()
                for claim in claimed:
                    self._held[claim.tenant_id] += 1
                    task = asyncio.create_task(self._deliver(client, claim))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                    task.add_done_callback(functools.partial(self._release, claim.tenant_id))
                # An empty claim is not proof of idleness: a webhook locked by a result
                # being recorded is skipped, and that attempt may have ended while the
                # claim ran. Idle is nothing in flight and nothing due.
                idle = not claimed and not self._in_flight
                if idle and self.until_idle and not await self._anything_due():
                    break
                if not claimed or len(self._in_flight) >= self.policy.concurrency:
                    await self._pause()
            if self._in_flight:
                await asyncio.wait(self._in_flight)

    async def _purge_now_and_then(self) -> None:
        """Delete rows past the retention, at start and then every ``PURGE_SECONDS``."""
        if self.policy.retention is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_SECONDS
        try:
            purged = await self.db.run_write(
                webhook_outbox.purge, before=utcnow() - self.policy.retention
            )
        except Exception:
            logger.exception("purging delivered webhook deliveries failed")
            return
        if purged:
            logger.info("purged %d delivered or given-up webhook deliveries", purged)

    def _release(self, tenant_id: str, _task: asyncio.Task[None]) -> None:
        self._held[tenant_id] -= 1
        if self._held[tenant_id] <= 0:
            del self._held[tenant_id]

    async def _claim(self) -> list[Claim]:
        free = self.policy.concurrency - len(self._in_flight)
        if free <= 0:
            return []
        now = utcnow()
        try:
            if not await self.db.run_read(webhook_outbox.has_due, now):
                return []
            return await self.db.run_write(
                webhook_outbox.claim_due,
                now=now,
                limit=free,
                per_endpoint=self.policy.per_endpoint,
                lease=self.policy.lease,
                per_tenant=self.policy.per_tenant,
                held=dict(self._held),
            )
        except Exception:  # the database is away: try again after a pause
            logger.exception("claiming webhook deliveries failed")
            return []

    async def _anything_due(self) -> bool:
        try:
            return await self.db.run_read(webhook_outbox.has_due, utcnow())
        except Exception:  # the database is away: nothing can be claimed either
            logger.exception("reading due webhook deliveries failed")
            return False

    async def _pause(self) -> None:
        """Until the poll interval passes, an attempt finishes, or stop() is called."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        waiters: set[asyncio.Future[Any]] = {stopping, *self._in_flight}
        try:
            await asyncio.wait(waiters, timeout=self.policy.poll, return_when="FIRST_COMPLETED")
        finally:
            stopping.cancel()

    async def _deliver(self, client: httpx.AsyncClient, claim: Claim) -> None:
        status, error = await self._attempt(client, claim)
        try:
            now = utcnow()
            recorded = await self.db.run_write(
                webhook_outbox.record_result,
                claim,
                now=now,
                status=status,
                error=error,
                retry_at=None if error is None else self.policy.retry_at(claim.attempt, now),
            )
        except Exception:  # the lease expires and the delivery is made again
            logger.exception("recording webhook delivery %s failed", claim.event_id)
            return
        if recorded and error is None:
            self.delivered += 1
        elif recorded:
            self.failed += 1
            logger.warning(
                "webhook %s: attempt %d of %s failed: %s",
                claim.webhook_id,
                claim.attempt,
                claim.event_id,
                error,
            )

    async def _attempt(
        self, client: httpx.AsyncClient, claim: Claim
    ) -> tuple[int | None, str | None]:
        budget = min(self.policy.timeout, (claim.lease_until - utcnow()).total_seconds() / 2)
        if budget <= 0:
            return None, "lease too short to attempt"
        try:
            async with asyncio.timeout(budget):
                target = await egress.resolve(
                    claim.endpoint_url, allow_private=self.policy.allow_private
                )
                url, host = target.pinned()
                headers = {**headers_for(claim, utcnow()), "Host": host}
                extensions = {"sni_hostname": target.host} if url.startswith("https") else {}
                request = client.build_request(
                    "POST", url, content=claim.body, headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
                await response.aclose()  # the body is not read: a receiver cannot flood us
        except egress.RefusedURL as exc:
            return None, str(exc)
        except TimeoutError:
            return None, f"no answer within {budget:.1f} s"
        except (httpx.HTTPError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"


def start_worker(db: Database, settings: Settings) -> Worker:
    """A worker running on the current event loop (the app's lifespan starts one)."""
    worker = Worker(db, Policy.from_settings(settings))
    worker.start()
    return worker
