"""Rate limits, on by default: per credential, per client address, and for logins.

Every limit is a count per fixed one-minute window, kept in the database
(``models.common.rate_limits``, counted on a database thread) so that it holds across
every server process and host; over it, 429 in the surface's own format with
``Retry-After`` (seconds until the window ends). 0 switches a limit off.

- **Per credential** (``TRADEPOST_RATE_LIMIT_PER_MINUTE``, 1200): every request with a
  valid token, checked by the bearer hook once the token is known. So that a busy
  client does not cost a database write per request, a process adds its counts to the
  shared row in batches (every twentieth of the limit, or every second, whichever comes
  first): the limit may be passed by at most one batch per process.
- **Invalid credentials per client address** (``..._AUTH_FAILURES_PER_MINUTE``, 60):
  an address that sends that many unknown, revoked, expired or other-surface tokens in a
  minute gets 429 for every further bearer request until the window ends (refused in
  memory, before any lookup): spraying tokens is limited, valid clients are not counted.
- **Logins per client address** (``TRADEPOST_LOGIN_ATTEMPTS_PER_MINUTE``, 30): every
  attempt, right or wrong, any email: spraying many emails from one address is limited.
- **Wrong passwords per (email, address)** (``TRADEPOST_LOGIN_FAILURES_PER_MINUTE``, 10):
  guessing one customer's password is limited, but only for the address that guesses:
  the customer, from their own address, still logs in with the right password.

Buckets store digests, never an email or address. The client address is the ASGI
scope's (uvicorn's, which honours ``X-Forwarded-For`` from the proxies it trusts).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from models.common.rate_limits import hit, hits_in, purge_before
from models.common.tokens import Principal
from tradepost.db import Database
from tradepost.errors import TooManyRequests

WINDOW_SECONDS = 60
SYNC_SECONDS = 1.0  # a batch of per-credential counts reaches the database at least this often


@dataclass(frozen=True, slots=True)
class Limits:
    per_credential: int = 1200
    auth_failures_per_address: int = 60
    logins_per_address: int = 30
    login_failures: int = 10


@dataclass(slots=True)
class _Batch:
    window: int
    known: int = 0  # the shared count, as of this process's last write
    pending: int = 0  # counted here, not written yet
    synced_at: float = -math.inf


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(
        self, db: Database, limits: Limits, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.limits = limits
        self._clock = clock
        # Read and written on the event loop's thread only: no lock needed.
        self._batches: dict[str, _Batch] = {}
        self._blocked: dict[str, int] = {}  # address bucket -> window it is blocked in
        self._purged_window = 0

    @property
    def per_minute(self) -> int:
        return self.limits.per_credential

    def _window(self) -> tuple[float, int]:
        now = self._clock()
        return now, int(now // WINDOW_SECONDS)

    def _refuse(self, now: float, window: int, what: str, limit: int) -> TooManyRequests:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        return TooManyRequests(
            f"Rate limit of {limit} {what} per minute exceeded; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )

    async def _new_window(self, window: int) -> None:
        """Once per window and process: forget the last window's state, purge old rows."""
        if window == self._purged_window:
            return
        self._purged_window = window
        self._batches = {b: s for b, s in self._batches.items() if s.window == window}
        self._blocked = {a: w for a, w in self._blocked.items() if w == window}
        await self._db.run_write(purge_before, window_start=window - 1)

    async def _count(self, bucket: str, limit: int, what: str, *, batch: int = 1) -> None:
        now, window = self._window()
        await self._new_window(window)
        state = self._batches.get(bucket)
        if state is None or state.window != window:
            state = self._batches[bucket] = _Batch(window)
        state.pending += 1
        if state.pending >= batch or now - state.synced_at >= SYNC_SECONDS:
            adding, state.pending, state.synced_at = state.pending, 0, now
            total = await self._db.run_write(hit, bucket=bucket, window_start=window, count=adding)
            state.known = max(state.known, total)
        if state.known + state.pending > limit:
            raise self._refuse(now, window, what, limit)

    async def check(self, principal: Principal) -> None:
        """Count one request for the principal's token; 429 once over the limit."""
        limit = self.limits.per_credential
        if limit > 0:
            batch = max(1, limit // 20)
            await self._count(f"token:{principal.token_id}", limit, "requests", batch=batch)

    def check_address(self, address: str) -> None:
        """429, without a lookup, for an address over its invalid-credential budget."""
        now, window = self._window()
        if self._blocked.get(_digest("auth", address)) == window:
            limit = self.limits.auth_failures_per_address
            raise self._refuse(now, window, "invalid credentials", limit)

    async def auth_failed(self, address: str) -> None:
        """Count an invalid credential from ``address``; 429 (not 401) once over."""
        limit = self.limits.auth_failures_per_address
        if limit <= 0:
            return
        bucket = _digest("auth", address)
        try:
            await self._count(f"auth:{bucket}", limit, "invalid credentials")
        except TooManyRequests:
            self._blocked[bucket] = self._window()[1]
            raise

    async def check_login(self, email: str, address: str) -> None:
        """Before a login's password check: count the attempt for its address, and refuse
        an (email, address) pair that already failed too often."""
        if self.limits.logins_per_address > 0:
            bucket = f"login:{_digest('login', address)}"
            await self._count(bucket, self.limits.logins_per_address, "login attempts")
        limit = self.limits.login_failures
        if limit > 0:
            now, window = self._window()
            failed = await self._db.run_read(
                hits_in, bucket=_failures_bucket(email, address), window_start=window
            )
            if failed >= limit:
                raise self._refuse(now, window, "failed logins", limit)

    async def login_failed(self, email: str, address: str) -> None:
        """Count a wrong password (or unknown email) for the (email, address) pair."""
        if self.limits.login_failures > 0:
            _now, window = self._window()
            await self._db.run_write(
                hit, bucket=_failures_bucket(email, address), window_start=window
            )


def _failures_bucket(email: str, address: str) -> str:
    return f"login-failed:{_digest(email.strip().lower(), address)}"
