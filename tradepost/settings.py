"""The one settings object, read from ``TRADEPOST_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
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
    pool_size: int = Field(
        default=10, ge=1, description="PostgreSQL connections per process (no overflow)."
    )
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
    password_threads: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        ge=1,
        le=64,
        description="Threads per process that hash and verify passwords (Argon2id, ~100 ms "
        "of CPU each), outside any transaction and off the event loop: at most this many "
        "run at once, so a flood of logins slows logins only (half the CPUs, at least 1).",
    )
    password_queue: int = Field(
        default=64,
        ge=0,
        description="Password checks that may wait for a thread; beyond that a login or "
        "password change is refused at once (429, Retry-After: 1).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Larger request bodies get 413; a year of strategy outputs is ~48 MB.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A connection that has not sent a request's line and headers this long "
        "after it opened (or after the request's first byte) is closed.",
    )
    max_anonymous_body_bytes: int = Field(
        default=64 * 1024,
        gt=0,
        description="The body limit of operations taken without a credential (the "
        "Strategies login): refused with 413 before the body is read or parsed.",
    )
    offset_quote_days: float = Field(
        default=14.0,
        gt=0,
        description="How long a carbon-offset price quote is valid (`valid_until`); after "
        "that it is still accepted while its price is unchanged. Prices are in the product "
        "catalogue (`tradepost products ...`).",
    )
    offset_checkout_url: str = Field(
        default="https://checkout.example.com/pay",
        description="The payment page of `stripe` offset quotes and purchases "
        "(`payment_link` with `?t=<pricing id>`, `checkout_page.url` with `?purchase=<id>`).",
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
    idempotency_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        description="How long an unfinished create holds its Idempotency-Key: a retry "
        "meanwhile gets 409 with Retry-After; after it, a claim left by a process that died "
        "is taken over (a create still running then cannot complete: it runs at most once).",
    )
    loop_lag_probe_seconds: float = Field(
        default=0.05,
        ge=0,
        description="How often the event loop's lag is sampled for the "
        "tradepost_event_loop_lag_seconds metric; 0 switches the probe off.",
    )
    forbid_loop_io: bool = Field(
        default=False,
        description="Fail any blocking database statement (the synchronous engine) run on "
        "the event loop's thread (tests switch it on: request code must use run_read/"
        "run_write).",
    )
    freeze_heap: bool = Field(
        default=True,
        description="After start-up, collect once and move what start-up built out of the "
        "garbage collector's sight (gc.freeze), so a full collection under load takes "
        "microseconds; tests that start hundreds of apps in one process switch it off.",
    )
    spec_checked_sha256: str | None = Field(
        default=None,
        description="The digest (tradepost.connexion_glue.spec.digest) of an openapi.yaml "
        "already checked against the OpenAPI meta-schema, by a build step or a parent "
        "process: a document with exactly this digest is not checked again at start "
        "(0.3-0.6 s per process). Any other document still is.",
    )
    log_json: bool = Field(default=False, description="One JSON object per log line.")
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="The event loop `tradepost serve` runs. asyncio serves saturated "
        "connections in turn; uvloop let some wait 5-10x the median (bench/NOTES.md).",
    )
    rate_limit_per_minute: int = Field(
        default=1200,
        ge=0,
        description="Requests per minute per credential, counted in the database (shared "
        "by every process, written in batches); over it, 429 with Retry-After. 0: off.",
    )
    rate_limit_auth_failures_per_minute: int = Field(
        default=60,
        ge=0,
        description="Invalid credentials per minute per client address; over it, every "
        "bearer request from that address is 429 until the minute ends. 0: off.",
    )
    login_attempts_per_minute: int = Field(
        default=30,
        ge=0,
        description="Strategies logins per minute per client address (any email). 0: off.",
    )
    login_failures_per_minute: int = Field(
        default=10,
        ge=0,
        description="Failed logins per minute per (email, client address): guessing is "
        "limited without locking the customer out from their own address. 0: off.",
    )
    webhooks_worker: bool = Field(
        default=True,
        description="Run the webhook delivery worker in every server process "
        "(`tradepost webhooks deliver` runs it alone).",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Allow webhook endpoints on loopback, private, link-local and other "
        "non-public addresses (off: such URLs are refused at create/update and delivery).",
    )
    webhooks_concurrency: int = Field(
        default=16, ge=1, le=256, description="Webhook deliveries in flight per process."
    )
    webhooks_per_endpoint: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Deliveries in flight per webhook, across all processes.",
    )
    webhooks_per_tenant: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Deliveries in flight per tenant (all its webhooks) in one process. "
        "Fairness bound: while fewer than concurrency / per_tenant tenants fill their share, "
        "every other tenant's due event is claimed within the poll interval; beyond that, "
        "a tenant with nothing in flight takes the next slot that frees (within the timeout).",
    )
    webhooks_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="One delivery attempt's whole time limit."
    )
    webhooks_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed delivery is reserved for its claimer; a killed "
        "process's deliveries are taken up again after it. At least 2x the timeout + 1 s.",
    )
    webhooks_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often an idle worker looks for events."
    )
    webhooks_retry_seconds: float = Field(
        default=10.0, gt=0, description="The wait before the first retry; doubled each time."
    )
    webhooks_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait between two attempts."
    )
    webhooks_max_attempts: int = Field(
        default=12, ge=1, le=100, description="Attempts before a delivery is given up."
    )
    webhooks_retention_days: float = Field(
        default=30.0,
        ge=0,
        description="Delivered and given-up outbox rows are deleted this long after delivery "
        "(given up: after the event); 0 keeps them. The worker purges hourly, "
        "`tradepost webhooks purge` at once.",
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        if self.webhooks_lease_seconds < 2 * self.webhooks_timeout_seconds + 1:
            raise ValueError("webhooks_lease_seconds must be at least 2x the timeout + 1 s")
        return self
