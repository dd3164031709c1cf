"""``python -m bench``: the service and its references under the same load, interleaved.

Per phase (SQLite with one worker; PostgreSQL with two), every variant runs as its own
uvicorn process at the same time, and each round runs wrk once against every
(surface, variant) cell, in an order rotated per round, so that a noisy neighbour on the
shared machine hits every variant alike. Reported: medians over rounds with min-max, and
the median of per-round service/reference ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import calculations, cpu, load, pgbench, profiling, report, seed, servers, yeardoc

HERE = Path(__file__).resolve().parent
SURFACES = ("trades", "strategies")
# The variants of each phase, in the order a round starts from (rotated per round).
# ``pgbench`` is no server: it runs the service's transaction on the service's database.
SQLITE_VARIANTS = ("service", "fastapi", "starlette", "echo")
PG_VARIANTS = ("service", "fastapi_async", "starlette", "echo", "pgbench")
SERVERLESS = ("pgbench",)
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/"


@dataclass
class Phase:
    key: str
    title: str
    workers: int
    durability: dict[str, str]
    # the variants timed per surface (the PostgreSQL phase times the Strategies PUT on the
    # service, FastAPI and pgbench only, to keep the default run near eight minutes)
    variants: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict.fromkeys(SURFACES, SQLITE_VARIANTS)
    )
    cells: dict[str, dict[str, list[dict[str, float]]]] = field(default_factory=dict)
    # the same cells at one connection (latency at low load), and GET /healthz on the
    # service's keep-alive connection
    quiet: dict[str, dict[str, list[dict[str, float]]]] = field(default_factory=dict)

    @property
    def order(self) -> tuple[str, ...]:
        """Every variant of the phase once, in first-seen order."""
        return tuple(dict.fromkeys(v for vs in self.variants.values() for v in vs))


def _env_default(name: str, fallback: str) -> str:
    return os.environ.get(f"BENCH_{name.upper()}", fallback)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--duration",
        type=int,
        default=int(_env_default("duration", "3")),
        help="seconds of wrk per cell and round (BENCH_DURATION, 3)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(_env_default("rounds", "5")),
        help="interleaved rounds (BENCH_ROUNDS, 5)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=int(_env_default("connections", "32")),
        help="wrk connections (BENCH_CONNECTIONS, 32)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=int(_env_default("rows", "1000")),
        help="pre-created trades and purchases per database (BENCH_ROWS)",
    )
    parser.add_argument(
        "--quiet-duration",
        type=int,
        default=int(_env_default("quiet_duration", "1")),
        help="seconds per cell and round at one connection, the latency at low load "
        "(BENCH_QUIET_DURATION, 1)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before round 1")
    parser.add_argument(
        "--postgres-url",
        default=_env_default("postgres_url", PG_BASE),
        help="server for the PostgreSQL phase (databases tradepost_bench_*)",
    )
    parser.add_argument(
        "--pg-database-prefix",
        default=_env_default("pg_database_prefix", "tradepost_bench"),
        help="the PostgreSQL phase's databases are PREFIX_<variant> (dropped and recreated)",
    )
    parser.add_argument("--pg-workers", type=int, default=2)
    parser.add_argument(
        "--async-driver",
        choices=("asyncpg", "psycopg"),
        default=_env_default("async_driver", "asyncpg"),
        help="the async FastAPI reference's PostgreSQL driver (BENCH_ASYNC_DRIVER)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-year", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--profile-seconds", type=int, default=10)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite RESULTS.md and results.png from results.json (e.g. after editing NOTES.md)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE,
        help="where RESULTS.md, results.png/json and the profile go",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be positive")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def clean_environment() -> None:
    """Production defaults for the service (``servers.service_environment``)."""
    env = servers.service_environment(os.environ)
    os.environ.clear()
    os.environ.update(env)


def preflight(server: servers.Server, surface: str, data: seed.Seeded) -> None:
    """One request as wrk will send it; a variant that does not answer 200 is not timed."""
    if surface == "trades":
        response = httpx.patch(
            f"{server.url}/api/v1/trades/{data.trade_ids[0]}",
            headers={
                "Authorization": f"Bearer {data.trade_token}",
                "tenantId": "TEN123",
                "userId": "USR456",
                "countryCode": "US",
            },
            json={
                "quantity": 1500,
                "indicativeUnitPrice": 55,
                "totalAmount": 82500,
                "userId": "USR456",
                "tenantId": "TEN123",
                "countryCode": "US",
            },
            timeout=30,
        )
    else:
        response = httpx.put(
            f"{server.url}/api/v0/user/example_user/purchase/{data.purchase_ids[0]}/update",
            headers={"Authorization": f"Bearer {data.strategy_token}"},
            json={"outputs": {"result": "ok", "detail": {"score": 0.95}}},
            timeout=30,
        )
    if response.status_code != 200:
        raise RuntimeError(f"{server.name} {surface}: {response.status_code} {response.text}")


def run_phase(
    phase: Phase, urls: dict[str, str | None], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Seed, start every variant, interleave the rounds; extras run on the service."""
    log(f"{phase.title}: seeding {args.rows} trades and purchases per database")
    seeded = {name: seed.seed(url, args.rows) for name, url in urls.items() if url}
    seeded["echo"] = seeded["service"]  # same requests; the echo has no database
    ids = {name: data.write_ids(work, f"{phase.key}-{name}") for name, data in seeded.items()}
    scripts = {}
    if "pgbench" in phase.order:
        seeded["pgbench"] = seeded["service"]  # the service's own database and rows
        scripts = pgbench.write_scripts(seeded["service"], work)
    started: dict[str, servers.Server] = {}
    extras: dict[str, Any] = {}
    try:
        reference_env = {"BENCH_ASYNC_DRIVER": args.async_driver}
        for name in (v for v in phase.order if v not in SERVERLESS):
            started[name] = servers.launch(name, urls.get(name), phase.workers, work, reference_env)
        for name, server in started.items():
            server.wait_ready()
            log(f"{phase.title}: {name} on {server.url}")
        cells = [(s, v) for s in SURFACES for v in phase.variants[s]]
        for surface, variant in cells:
            if variant not in SERVERLESS:
                preflight(started[variant], surface, seeded[variant])

        def one(
            surface: str, variant: str, seconds: int, connections: int = args.connections
        ) -> load.Measurement:
            data = seeded[variant]
            server = started.get(variant)
            meter = cpu.Meter(
                server.process.pid if server else None, postgres=phase.key != "sqlite"
            )
            if variant == "pgbench":
                measured = pgbench.run_pgbench(
                    data.url,
                    scripts[surface],
                    duration=seconds,
                    clients=connections,
                    log_dir=work,
                )
            else:
                token = data.trade_token if surface == "trades" else data.strategy_token
                assert server is not None
                measured = load.run_wrk(
                    server.url,
                    surface,
                    token,
                    ids[variant].get(surface, ids[variant]["trades"]),
                    duration=seconds,
                    connections=connections,
                )
            app_ms, db_ms = meter.per_request(measured.requests)
            return replace(measured, app_cpu_ms=app_ms, db_cpu_ms=db_ms)

        def record(
            cells: dict[str, Any], surface: str, variant: str, seconds: int, connections: int
        ) -> None:
            measured = one(surface, variant, seconds, connections)
            cells.setdefault(surface, {}).setdefault(variant, []).append(asdict(measured))

        for surface, variant in cells:
            one(surface, variant, args.warmup)
        for number in range(args.rounds):
            shift = number % len(phase.order)
            order = phase.order[shift:] + phase.order[:shift]
            for surface in SURFACES:
                for variant in (v for v in order if v in phase.variants[surface]):
                    record(phase.cells, surface, variant, args.duration, args.connections)
            for surface in SURFACES:
                for variant in (v for v in order if v in phase.variants[surface]):
                    record(phase.quiet, surface, variant, args.quiet_duration, 1)
            record(phase.quiet, "healthz", "service", args.quiet_duration, 1)
            log(
                f"{phase.title}: round {number + 1}/{args.rounds} "
                + ", ".join(f"{s}/{v} {phase.cells[s][v][-1]['rps']:.0f}/s" for s, v in cells)
                + "; at 1 connection, trade PATCH p50 "
                + ", ".join(
                    f"{v} {x[-1]['p50_ms']:.2f} ms" for v, x in phase.quiet["trades"].items()
                )
            )

        if not args.skip_profile:
            extras["profile"] = profile_service(
                phase, started["service"], seeded["service"], ids["service"]["trades"], args
            )
        if phase.key == "sqlite" and not args.skip_year:
            log("year of strategy outputs: 3 PUTs to the service")
            extras["year"] = yeardoc.time_put(
                started["service"].url,
                seeded["service"].strategy_token,
                seeded["service"].purchase_ids[-1],
            )
            log(f"year of strategy outputs: median {extras['year']['median']:.2f} s")
        if phase.key == "sqlite":
            log("carbon calculations: 100-item POST /v2/calculations, one at a time")
            extras["calculations"] = calculations.time_calculations(
                started["service"].url, seeded["service"].offsets_token
            )
            log(f"carbon calculations: median {extras['calculations']['median'] * 1000:.1f} ms")
    finally:
        for server in started.values():
            server.stop()
    return extras


def profile_service(
    phase: Phase,
    server: servers.Server,
    data: seed.Seeded,
    trade_ids: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """py-spy on every process of the service (its workers too) under trade PATCH load."""
    output = args.output / f"profile-{phase.key}.speedscope.json"
    log(f"py-spy on the service (pid {server.process.pid}) under trade PATCH load")
    sampler = profiling.record(server.process.pid, args.profile_seconds, output)
    time.sleep(1)  # py-spy attaches
    measured = load.run_wrk(
        server.url,
        "trades",
        data.trade_token,
        trade_ids,
        duration=args.profile_seconds + 1,
        connections=args.connections,
    )
    _, errors = sampler.communicate(timeout=60)
    if sampler.returncode != 0 or not output.exists():
        return {"error": errors.decode(errors="replace")[-1000:]}
    summary = profiling.summarize(output)
    summary["file"] = output.name
    summary["phase"] = phase.title
    summary["rps"] = measured.rps  # under py-spy: slower than the rounds above
    return summary


def postgres_durability(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: connection.execute(text(f"SHOW {name}")).scalar_one()
                for name in (
                    "server_version",
                    "fsync",
                    "synchronous_commit",
                    "wal_sync_method",
                    "full_page_writes",
                    "max_connections",
                )
            }
    finally:
        engine.dispose()


def postgres_reachable(base: str) -> str | None:
    try:
        postgres_durability(str(make_url(base).set(database="postgres")))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def environment() -> dict[str, Any]:
    import sqlite3
    from importlib.metadata import version

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk = subprocess.run([load.wrk_path(), "--version"], capture_output=True, text=True)
    packages = (
        "connexion",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "fastapi",
        "pydantic",
        "sqlalchemy",
        "sqlmodel",
        "psycopg",
        "asyncpg",
        "jsonschema-rs",
        "orjson",
        "py-spy",
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "loadavg_start": os.getloadavg(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip(),
        "pgbench": _pgbench_version(),
        "packages": {name: version(name) for name in packages},
    }


def _pgbench_version() -> str:
    try:
        done = subprocess.run([pgbench.pgbench_path(), "--version"], capture_output=True, text=True)
    except SystemExit as missing:
        return str(missing)
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report.write(json.loads((args.output / "results.json").read_text()), args.output)
        return 0
    clean_environment()
    env = environment()
    env["args"] = {k: str(v) for k, v in vars(args).items()}
    work = Path(tempfile.mkdtemp(prefix="tradepost-bench-"))
    log(f"working in {work}; {env['nproc']} cores, load {env['loadavg_start']}")
    phases: list[Phase] = []
    extras: dict[str, Any] = {}
    try:
        sqlite = Phase(
            "sqlite",
            "SQLite (WAL, synchronous=NORMAL), 1 worker",
            1,
            {"journal_mode": "WAL", "synchronous": "NORMAL", "busy_timeout": "30 s"},
        )
        phases.append(sqlite)
        urls: dict[str, str | None] = {
            n: f"sqlite:///{work / n}.db" for n in ("service", "fastapi", "starlette")
        }
        extras.update(run_phase(sqlite, urls, args, work))

        reason = "--skip-postgres" if args.skip_postgres else postgres_reachable(args.postgres_url)
        if reason is None:
            base = make_url(args.postgres_url)
            pg_urls: dict[str, str | None] = {
                n: base.set(database=f"{args.pg_database_prefix}_{n}").render_as_string(False)
                for n in ("service", "fastapi_async", "starlette")
            }
            durability = postgres_durability(base.set(database="postgres").render_as_string(False))
            pg = Phase(
                "postgres",
                f"PostgreSQL {durability['server_version'].split()[0]}, {args.pg_workers} workers",
                args.pg_workers,
                durability,
                variants={
                    "trades": PG_VARIANTS,
                    "strategies": ("service", "fastapi_async", "pgbench"),
                },
            )
            phases.append(pg)
            pg_extras = run_phase(pg, pg_urls, args, work)
            if "profile" in pg_extras:
                extras["profile_postgres"] = pg_extras["profile"]
        else:
            extras["postgres_skipped"] = reason
            log(f"PostgreSQL phase skipped: {reason}")
    finally:
        env["loadavg_end"] = os.getloadavg()
        shutil.rmtree(work, ignore_errors=True)

    results = {"environment": env, "extras": extras, "phases": [asdict(phase) for phase in phases]}
    (args.output / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, args.output)
    log(f"wrote {args.output / 'RESULTS.md'} and {args.output / 'results.png'}")
    print((args.output / "RESULTS.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
