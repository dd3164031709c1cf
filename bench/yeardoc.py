"""A year of Strategies outputs (4 models x 4 markets x 35,040 quarter-hours) PUT over HTTP."""

from __future__ import annotations

import random
import statistics
import time
from datetime import datetime, timedelta

import httpx
import orjson

MODELS, MARKETS, QUARTER_HOURS = 4, ("MD", "MID1", "MID2", "MID3"), 365 * 96  # 35,040


def year_outputs(seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1)
    stamps = [
        (start + timedelta(minutes=15 * q)).strftime("%Y-%m-%d %H:%M") for q in range(QUARTER_HOURS)
    ]
    return [
        {
            "idmodel": model,
            "value": {
                market: [
                    {
                        "datetime": stamp,
                        "purchase_percentage": round(rng.random(), 4),
                        "sale_percentage": round(rng.random(), 4),
                    }
                    for stamp in stamps
                ]
                for market in MARKETS
            },
        }
        for model in range(1, MODELS + 1)
    ]


def time_put(url: str, token: str, purchase_id: str, repeats: int = 3) -> dict[str, object]:
    """Round trips (request sent to the 200 body fully read), in seconds."""
    body = orjson.dumps({"status": "completed", "error": "", "outputs": year_outputs()})
    path = f"{url}/api/v0/user/example_user/purchase/{purchase_id}/update"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    times: list[float] = []
    with httpx.Client(timeout=120) as client:
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.put(path, content=body, headers=headers)
            size = len(response.content)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(
                    f"year PUT answered {response.status_code}: {response.text[:500]}"
                )
    return {
        "body_mb": len(body) / 1e6,
        "response_mb": size / 1e6,
        "entries": MODELS * len(MARKETS) * QUARTER_HOURS,
        "times": times,
        "median": statistics.median(times),
    }
