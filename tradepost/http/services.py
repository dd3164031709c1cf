"""What the lifespan builds once and every request reads: settings, database, caches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradepost.db import Database
from tradepost.ops.metrics import Metrics
from tradepost.settings import Settings

if TYPE_CHECKING:
    from tradepost.http.passwords import PasswordWork
    from tradepost.http.ratelimit import RateLimiter
    from tradepost.http.tokens import TokenVerifier


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    tokens: TokenVerifier
    metrics: Metrics
    limiter: RateLimiter
    passwords: PasswordWork
