"""Carbon calculations of 100 items (flights by airport code, both methodologies) over HTTP.

The issue's target: a 100-item ``POST /v2/calculations`` well under 50 ms of service time.
Timed as the round trip on localhost (request sent to the 200 body fully read), one request
at a time, after a warm-up; the service's own time is a little less.
"""

from __future__ import annotations

import statistics
import time

import httpx
import orjson

AIRPORTS = ("BER", "FRA", "JFK", "LHR", "SIN", "CDG", "LAX", "NRT", "SYD", "GRU", "DXB")
ITEMS = 100
TARGET_S = 0.050


def hundred_items() -> list[dict[str, object]]:
    return [
        {
            "type": "flight",
            "methodology": "ICAO" if number % 2 else "DEFRA",
            "origin": AIRPORTS[number % len(AIRPORTS)],
            "destination": AIRPORTS[(number + 3) % len(AIRPORTS)],
            "number_of_travelers": 1 + number % 3,
            "external_reference": f"leg-{number}",
        }
        for number in range(ITEMS)
    ]


def time_calculations(url: str, token: str, repeats: int = 50) -> dict[str, object]:
    body = orjson.dumps({"items": hundred_items(), "carbon_unit": "kilogram",
                         "expand": ["items", "legs"]})  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    times: list[float] = []
    with httpx.Client(timeout=30) as client:
        for number in range(repeats + 5):
            started = time.perf_counter()
            response = client.post(f"{url}/v2/calculations", content=body, headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(
                    f"calculation answered {response.status_code}: {response.text[:500]}"
                )
            if number >= 5:  # the first five warm the connection and caches
                times.append(elapsed)
    times.sort()
    return {
        "items": ITEMS,
        "repeats": repeats,
        "median": statistics.median(times),
        "p90": times[int(len(times) * 0.9) - 1],
        "max": times[-1],
    }
