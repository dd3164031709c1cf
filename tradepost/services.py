"""What the lifespan builds once and every request reads: settings, database, caches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradepost.db import Database
from tradepost.metrics import Metrics
from tradepost.settings import Settings

if TYPE_CHECKING:
    from tradepost.auth import TokenVerifier
    from tradepost.ratelimit import RateLimiter


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    tokens: TokenVerifier
    metrics: Metrics
    limiter: RateLimiter
