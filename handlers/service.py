"""The service's own endpoints: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from tradepost.http.request import json_response, services
from tradepost.ops import migrate


async def healthz() -> Any:
    return json_response({"status": "ok"})


async def readyz() -> Any:
    expected = migrate.head()
    try:
        current = await services().db.run_read(migrate.current_in)
    except SQLAlchemyError:
        return json_response(
            {
                "status": "unavailable",
                "database": "unreachable",
                "migration": None,
                "expectedMigration": expected,
            },
            503,
        )
    ready = current == expected
    return json_response(
        {
            "status": "ok" if ready else "unavailable",
            "database": "ok",
            "migration": current,
            "expectedMigration": expected,
        },
        200 if ready else 503,
    )


async def metrics() -> Any:
    exporter = services().metrics
    # With several workers the samples are read from files: off the event loop.
    return Response(await asyncio.to_thread(exporter.render), media_type=exporter.content_type)
