"""The one settings object, read from ``TRADEPOST_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'tradepost.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEPOST_", extra="ignore")

    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL; a SQLite file in the working directory by default.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Apply migrations at start-up; by default only on SQLite (the embedded "
        "default). PostgreSQL deployments run `tradepost db upgrade` once per release.",
    )
    pool_size: int = Field(default=5, ge=1, description="PostgreSQL connections per process.")
    sqlite_synchronous: str = Field(
        default="NORMAL",
        pattern="^(OFF|NORMAL|FULL|EXTRA)$",
        description="SQLite PRAGMA synchronous; NORMAL with WAL survives process crashes.",
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a verified token is trusted without a database lookup; "
        "a revoked token stops working within this time.",
    )
    token_cache_size: int = Field(default=10_000, ge=0)
    login_token_hours: float = Field(default=24.0, gt=0)
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Larger request bodies get 413; a year of strategy outputs is ~48 MB.",
    )
    offset_prices: dict[str, int] = Field(
        default={"EUR": 1500, "USD": 1650, "GBP": 1300, "CHF": 1450},
        description="The carbon-offset price list: minor currency units per tonne, as JSON "
        '(e.g. {"EUR": 1500}); a currency left out cannot be quoted (404).',
    )
    offset_quote_minutes: float = Field(
        default=15.0, gt=0, description="How long a carbon-offset price quote stays valid."
    )
    offset_checkout_url: str = Field(
        default="https://checkout.example.com/pay",
        description="The payment page a `stripe` offset purchase links to "
        "(`checkout_page.url`, with `?purchase=<id>`).",
    )
    validate_responses: bool = Field(
        default=False, description="Check every response body against openapi.yaml."
    )
    idempotency_key_hours: float = Field(
        default=24.0,
        ge=24,
        description="How long a stored create response answers retries with its "
        "Idempotency-Key (expired keys are purged opportunistically and by "
        "`tradepost idempotency purge`).",
    )
    forbid_loop_io: bool = Field(
        default=False,
        description="Fail any database statement run on the event loop's thread "
        "(tests switch it on: every database call must run on a database thread).",
    )
    log_json: bool = Field(default=False, description="One JSON object per log line.")
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="The event loop `tradepost serve` runs. asyncio serves saturated "
        "connections in turn; uvloop let some wait 5-10x the median (bench/NOTES.md).",
    )
    rate_limit_per_minute: int = Field(
        default=0,
        ge=0,
        description="Requests per minute per token, counted in the database (shared by "
        "every process); over it, 429 with Retry-After. 0 switches limiting off.",
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate
