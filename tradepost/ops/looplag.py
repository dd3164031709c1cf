"""Event-loop lag: how much later than asked the loop wakes a sleeping task.

A task sleeps ``interval`` seconds again and again and records how late it woke. A loop
that runs only short callbacks wakes it within a millisecond or two even under load;
blocking I/O on the loop (a database round trip or commit, a file read) shows up as lag
of that length, multiplied by the requests queued behind it. Exported as the histogram
``tradepost_event_loop_lag_seconds``. (On a shared two-core machine it also measures CPU
contention, so the tests guard the loop with ``forbid_loop_io`` instead: tradepost/db.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import Histogram


async def _sample(histogram: Histogram, interval: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        histogram.observe(max(loop.time() - asked, 0.0))


@contextlib.asynccontextmanager
async def probing(histogram: Histogram, interval: float) -> AsyncIterator[None]:
    """Sample the running loop's lag every ``interval`` seconds while the block runs."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_sample(histogram, interval), name="loop-lag-probe")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
