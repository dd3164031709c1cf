"""The engine every reference uses: the service's SQLite durability settings, or PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event

from tradepost.settings import Settings

# The service's default pool (PostgreSQL connections per process, no overflow).
SERVICE_POOL_SIZE: int = Settings.model_fields["pool_size"].default

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # as tradepost/settings.py's default
    "PRAGMA busy_timeout=30000",
)


def database_url(url: str | None = None) -> str:
    found = url or os.environ.get("BENCH_DATABASE_URL")
    if not found:
        raise RuntimeError("set BENCH_DATABASE_URL")
    return found


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        return engine
    # Same pool as the service's default (TRADEPOST_POOL_SIZE=10, no overflow), without a
    # pre-ping per checkout, as the service since issue 17.
    return create_engine(url, pool_size=SERVICE_POOL_SIZE, max_overflow=0)
