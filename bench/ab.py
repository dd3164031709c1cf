"""A/B of the service against itself at another commit: ``python -m bench.ab REV``.

Both versions serve the trade PATCH (or, with ``--surface strategies``, the Strategies
PUT) from their own database (SQLite, or PostgreSQL with ``--postgres-url``; same rows),
``--workers`` each (1); rounds alternate which goes first. Prints medians and per-round ratios.
The other version's code is taken with ``git archive`` into a temporary directory and
put first on ``sys.path`` of its server (the same virtualenv otherwise).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import load, seed, servers

ROOT = Path(__file__).resolve().parent.parent


def start(name: str, source: Path, url: str, work: Path, workers: int = 1) -> servers.Server:
    port = servers.free_port()
    # uvicorn's worker processes (spawned) get this sys.path from their parent
    code = (
        f"import sys; sys.path.insert(0, {str(source)!r}); from tradepost.cli import main; "
        f"sys.argv = ['tradepost', 'serve', '--host', '127.0.0.1', '--port', '{port}', "
        f"'--workers', '{workers}']; main()"
    )
    env = {**servers.service_environment(os.environ), "TRADEPOST_DATABASE_URL": url}
    log = work / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=work,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = servers.Server(name, process, port, log)
    server.wait_ready()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("rev", help="the other commit (e.g. HEAD~1)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--surface", choices=("trades", "strategies"), default="trades")
    parser.add_argument(
        "--postgres-url",
        help="run both on PostgreSQL (databases tradepost_ab_*, recreated) instead of SQLite",
    )
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tradepost-ab-"))
    other = work / "src"
    other.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(archive.stderr.decode())
    subprocess.run(["tar", "-x", "-C", str(other)], input=archive.stdout, check=True)
    started: dict[str, tuple[servers.Server, seed.Seeded, Path]] = {}
    results: dict[str, list[load.Measurement]] = {args.rev: [], "work tree": []}
    try:
        for name, source in ((args.rev, other), ("work tree", ROOT)):
            slug = "old" if name == args.rev else "new"
            url = f"sqlite:///{work / slug}.db"
            if args.postgres_url:
                base = make_url(args.postgres_url)
                url = base.set(database=f"tradepost_ab_{slug}").render_as_string(False)
            data = seed.seed(url, 1000)
            ids = data.write_ids(work, slug)[args.surface]
            server = start(slug, source, data.url, work, args.workers)
            started[name] = (server, data, ids)

        def run(name: str, seconds: int) -> load.Measurement:
            server, data, ids = started[name]
            return load.run_wrk(
                server.url,
                args.surface,
                data.trade_token if args.surface == "trades" else data.strategy_token,
                ids,
                duration=seconds,
                connections=args.connections,
            )

        for name in started:
            run(name, 2)
        for number in range(args.rounds):
            names = list(started) if number % 2 == 0 else list(reversed(started))
            for name in names:
                results[name].append(run(name, args.duration))
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
            f"{sum(m.errors for m in runs)} errors"
        )
    ratios = [n.rps / o.rps for n, o in zip(results["work tree"], results[args.rev], strict=True)]
    print(
        f"work tree / {args.rev}: median {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}) over {len(ratios)} rounds"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
