"""Per-token request limits: ``TRADEPOST_RATE_LIMIT_PER_MINUTE`` requests a minute, then 429.

Checked by the bearer hook (``tradepost.http.auth.bearer_info``) once the token is known, so
every authenticated request of every surface counts, and the 429 is rendered in the
surface's own format with ``Retry-After`` (seconds until the current minute ends). The
counters live in the database (``models.common.rate_limits``, counted on a database thread), so
the limit holds across every server process and host. Login attempts, which carry no
token, are counted per email address (stored as a digest, so the table holds no
address). 0, the default, switches it
all off: no counting, no database work.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from models.common.rate_limits import hit
from models.common.tokens import Principal
from tradepost.db import Database
from tradepost.errors import TooManyRequests

WINDOW_SECONDS = 60


class RateLimiter:
    def __init__(
        self, db: Database, *, per_minute: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.per_minute = per_minute
        self._clock = clock

    async def check(self, principal: Principal) -> None:
        """Count one request for the principal's token; 429 once over the limit."""
        await self.check_bucket(f"token:{principal.token_id}")

    async def check_login(self, email: str) -> None:
        """Login attempts carry no token: they are counted per email address tried."""
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        await self.check_bucket(f"login:{digest[:32]}")

    async def check_bucket(self, bucket: str) -> None:
        if self.per_minute <= 0:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        hits = await self._db.run_write(hit, bucket=bucket, window_start=window)
        if hits > self.per_minute:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise TooManyRequests(
                f"Rate limit of {self.per_minute} requests per minute exceeded; "
                f"retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
