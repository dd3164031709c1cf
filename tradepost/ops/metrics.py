"""Prometheus metrics: requests per operation and status, latency, database pool use.

With several worker processes, ``tradepost serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at
a fresh directory; each process writes its samples there and ``/metrics`` (served by any
one of them) adds them up. Each app gets its own registry, so tests can build many apps.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, event

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tradepost_requests",
            "HTTP requests by operation, method and status.",
            ["operation", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tradepost_request_duration_seconds",
            "Time from request start to the response's last byte.",
            ["operation", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "tradepost_event_loop_lag_seconds",
            "How late the event loop woke a sleeping task (tradepost.ops.looplag).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.pool_in_use = Gauge(
            "tradepost_db_connections_in_use",
            "Database connections checked out of the pool.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def observe(self, operation: str | None, method: str, status: int, seconds: float) -> None:
        label = operation or "unmatched"  # unrouted paths share one label: bounded cardinality
        self.requests.labels(label, method, str(status)).inc()
        self.latency.labels(label, method).observe(seconds)

    def watch_pool(self, engine: Engine) -> None:
        @event.listens_for(engine, "checkout")
        def _checkout(*_args: Any) -> None:
            self.pool_in_use.inc()

        @event.listens_for(engine, "checkin")
        def _checkin(*_args: Any) -> None:
            self.pool_in_use.dec()

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
