"""The async FastAPI reference with asyncpg and with psycopg 3: ``python -m bench.drivers``.

Both run ``bench/references/fastapi_async_app.py`` (2 workers) on PostgreSQL, each on
its own database with the same rows, under the trade PATCH load of ``make bench``; rounds
alternate which goes first. Prints medians and the per-round asyncpg/psycopg ratio: the
measurement behind the driver ``make bench`` uses for that reference (bench/NOTES.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import load, run, seed, servers

DRIVERS = ("asyncpg", "psycopg")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drivers", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-url", default=run.PG_BASE)
    parser.add_argument("--pg-database-prefix", default="tradepost_bench")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tradepost-drivers-"))
    base = make_url(args.postgres_url)
    started: dict[str, tuple[servers.Server, seed.Seeded, Path]] = {}
    results: dict[str, list[load.Measurement]] = {name: [] for name in DRIVERS}
    try:
        for driver in DRIVERS:
            url = base.set(database=f"{args.pg_database_prefix}_{driver}")
            data = seed.seed(url.render_as_string(hide_password=False), 1000)
            ids = data.write_ids(work, driver)["trades"]
            server = servers.start(
                "fastapi_async", data.url, args.workers, work, {"BENCH_ASYNC_DRIVER": driver}
            )
            run.preflight(server, "trades", data)
            started[driver] = (server, data, ids)

        def once(driver: str, seconds: int) -> load.Measurement:
            server, data, ids = started[driver]
            return load.run_wrk(
                server.url,
                "trades",
                data.trade_token,
                ids,
                duration=seconds,
                connections=args.connections,
            )

        for driver in DRIVERS:
            once(driver, 1)
        for number in range(args.rounds):
            order = DRIVERS if number % 2 == 0 else DRIVERS[::-1]
            for driver in order:
                results[driver].append(once(driver, args.duration))
            print(number + 1, {n: round(r[-1].rps) for n, r in results.items()}, flush=True)
    finally:
        for server, _, _ in started.values():
            server.stop()
    for name, runs in results.items():
        rps = [m.rps for m in runs]
        print(
            f"{name}: {statistics.median(rps):.0f} req/s ({min(rps):.0f}-{max(rps):.0f}), "
            f"p50 {statistics.median(m.p50_ms for m in runs):.0f} ms, "
            f"p99 {statistics.median(m.p99_ms for m in runs):.0f} ms, "
            f"errors {sum(m.errors for m in runs)}"
        )
    ratios = [a.rps / p.rps for a, p in zip(results["asyncpg"], results["psycopg"], strict=True)]
    print(
        f"asyncpg / psycopg: median {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}) over {len(ratios)} rounds"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
