"""The service's own endpoints: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from tradepost.errors import RETRY_AFTER_SECONDS, ServiceUnavailable
from tradepost.http.request import json_response, services
from tradepost.ops import migrate


async def healthz() -> Any:
    return json_response({"status": "ok"})


async def readyz() -> Any:
    """Ready when the database answers, takes writes, and is at the expected migration."""
    expected = migrate.head()
    db = services().db
    try:
        current = await db.run_read(migrate.current_in)
        writable = await db.writable()
    except (ServiceUnavailable, SQLAlchemyError):
        return _readiness("unreachable", None, expected)
    if not writable:
        return _readiness("read-only", current, expected)
    return _readiness("ok", current, expected)


def _readiness(database: str, current: str | None, expected: str | None) -> Response:
    ready = database == "ok" and current == expected
    return json_response(
        {
            "status": "ok" if ready else "unavailable",
            "database": database,
            "migration": current,
            "expectedMigration": expected,
        },
        200 if ready else 503,
        headers=None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def metrics() -> Any:
    exporter = services().metrics
    # With several workers the samples are read from files: off the event loop.
    return Response(await asyncio.to_thread(exporter.render), media_type=exporter.content_type)
