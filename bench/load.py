"""One wrk run and what it measured."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_DIR = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    app_cpu_ms: float | None = None
    """CPU per request of the server under test (pgbench: of pgbench itself)."""
    db_cpu_ms: float | None = None
    """CPU per request of PostgreSQL (None on SQLite, where it is the server's own)."""


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk not found: `make bench` installs it (apt-get install -y wrk)")
    return found


def run_wrk(
    url: str, surface: str, token: str, ids_file: Path, *, duration: float, connections: int
) -> Measurement:
    command = [
        wrk_path(),
        "--threads",
        "1",  # one wrk thread drives >10x these rates; leave the cores to the servers
        "--connections",
        str(connections),
        "--duration",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--script",
        str(WRK_DIR / f"{surface}.lua"),
        url,
        "--",
        token,
        str(ids_file),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")),
        None,
    )
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    seconds = raw["duration_us"] / 1e6
    return Measurement(
        rps=raw["requests"] / seconds,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=raw["requests"],
        errors=raw["status_errors"] + raw["socket_errors"],
    )
