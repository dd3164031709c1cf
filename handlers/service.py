"""The service's own endpoints."""

from __future__ import annotations

from typing import Any

from tradepost.http import json_response


async def healthz() -> Any:
    return json_response({"status": "ok"})
