"""RESULTS.md and results.png from the measurements of one ``python -m bench`` run."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench import calculations

LABELS = {
    "service": "tradepost (Connexion)",
    "fastapi": "FastAPI + SQLModel",
    "fastapi_async": "FastAPI + SQLModel, async",
    "starlette": "Starlette + ORM, unvalidated",
    "echo": "Starlette JSON echo (ceiling)",
    "pgbench": "pgbench, the same statements (ceiling)",
}
SURFACE_LABELS = {
    "trades": "trade PATCH /api/v1/trades/{id}",
    "strategies": "Strategies PUT .../purchase/{id}/update",
    "healthz": "GET /healthz, keep-alive",
}
YEAR_TARGET_S = 2.0


def spread(values: list[float], digits: int = 0) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def ratios(cells: dict[str, list[dict[str, float]]], ref: str, key: str = "rps") -> list[float]:
    return [s[key] / r[key] for s, r in zip(cells["service"], cells[ref], strict=True) if r[key]]


def label(variant: str, env: dict[str, Any]) -> str:
    if variant == "fastapi_async":
        return f"{LABELS[variant]} ({env['args'].get('async_driver', 'asyncpg')})"
    return LABELS[variant]


def ratio_text(cells: dict[str, list[dict[str, float]]], ref: str) -> str:
    r = ratios(cells, ref)
    return f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [x[key] for x in runs if x.get(key) is not None]
    return statistics.median(values) if values else None


def ms(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def phase_table(phase: dict[str, Any], env: dict[str, Any]) -> list[str]:
    lines = [
        "| surface | variant | requests/s median (min-max) | p50 ms | p99 ms | errors | "
        "service/variant req/s, median of rounds (min-max) | CPU ms/request: server | "
        "CPU ms/request: PostgreSQL |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for surface, cells in phase["cells"].items():
        for variant, runs in cells.items():
            ratio = "—" if variant == "service" else ratio_text(cells, variant)
            lines.append(
                f"| {SURFACE_LABELS[surface]} | {label(variant, env)} | "
                f"{spread([x['rps'] for x in runs])} | {spread([x['p50_ms'] for x in runs], 1)} | "
                f"{spread([x['p99_ms'] for x in runs], 1)} | "
                f"{sum(int(x['errors']) for x in runs)} | {ratio} | "
                f"{ms(median_of(runs, 'app_cpu_ms'))} | {ms(median_of(runs, 'db_cpu_ms'))} |"
            )
    return lines


def quiet_table(phase: dict[str, Any], env: dict[str, Any]) -> list[str]:
    """One connection: the latency of a request on its own, beside the CPU it cost. What
    the CPU does not explain is waiting (or the client's and the kernel's share)."""
    if not phase.get("quiet"):
        return []
    lines = [
        "At one connection (latency at low load; pgbench: its CPU is the client's):",
        "",
        "| surface | variant | p50 ms | p99 ms | CPU ms/request: server | "
        "CPU ms/request: PostgreSQL | p50 not spent on CPU, ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for surface, cells in phase["quiet"].items():
        for variant, runs in cells.items():
            p50 = statistics.median(x["p50_ms"] for x in runs)
            app, db = median_of(runs, "app_cpu_ms"), median_of(runs, "db_cpu_ms")
            waiting = None if app is None else p50 - app - (db or 0)
            if variant == "pgbench":
                waiting = None if db is None else p50 - db  # the client's CPU overlaps
            lines.append(
                f"| {SURFACE_LABELS[surface]} | {label(variant, env)} | "
                f"{spread([x['p50_ms'] for x in runs], 2)} | "
                f"{ms(statistics.median(x['p99_ms'] for x in runs))} | "
                f"{ms(app)} | {ms(db)} | {ms(waiting)} |"
            )
    return ["", *lines]


def keepalive_ms(phase: dict[str, Any]) -> float | None:
    runs = phase.get("quiet", {}).get("healthz", {}).get("service")
    return statistics.median(x["p50_ms"] for x in runs) if runs else None


Target = tuple[str, bool, str]


def targets(phase: dict[str, Any], phases: list[dict[str, Any]]) -> list[Target]:
    """Issue 30's targets for the trade PATCH: PostgreSQL with 2 workers, SQLite with 1."""
    cells = phase["cells"].get("trades")
    if not cells:
        return []
    p99_service = statistics.median(x["p99_ms"] for x in cells["service"])
    if "pgbench" in cells:
        vs_pgbench = statistics.median(ratios(cells, "pgbench"))
        vs_fastapi = statistics.median(ratios(cells, "fastapi_async"))
        found: list[Target] = [
            (
                "trade PATCH req/s ≥ 0.25x pgbench's tps for the same statements",
                vs_pgbench >= 0.25,
                ratio_text(cells, "pgbench"),
            ),
            ("trade PATCH p99 < 50 ms", p99_service < 50, f"{p99_service:.1f} ms"),
            (
                "trade PATCH req/s ≥ 2x the async FastAPI reference",
                vs_fastapi >= 2,
                ratio_text(cells, "fastapi_async"),
            ),
        ]
        cpu = median_of(cells["service"], "app_cpu_ms")
        if cpu is not None:
            found.append(("service CPU per trade PATCH ≤ 2 ms", cpu <= 2, f"{cpu:.2f} ms"))
        one = next((keepalive_ms(p) for p in phases if p is not phase), None)
        two = keepalive_ms(phase)
        if one is not None and two is not None:
            found.append(
                (
                    "keep-alive latency with 2 workers within 1 ms of 1 worker",
                    two - one <= 1,
                    f"GET /healthz p50 {two:.2f} ms with {phase['workers']} workers, "
                    f"{one:.2f} ms with 1",
                )
            )
        return found
    vs_fastapi = statistics.median(ratios(cells, "fastapi"))
    vs_starlette = statistics.median(ratios(cells, "starlette"))
    p99_fastapi = statistics.median(x["p99_ms"] for x in cells["fastapi"])
    p99_starlette = statistics.median(x["p99_ms"] for x in cells["starlette"])
    return [
        ("trade PATCH req/s ≥ 2x FastAPI", vs_fastapi >= 2, ratio_text(cells, "fastapi")),
        (
            "trade PATCH req/s ≥ 0.8x Starlette + ORM",
            vs_starlette >= 0.8,
            ratio_text(cells, "starlette"),
        ),
        (
            "trade PATCH p99 below FastAPI's and Starlette + ORM's",
            p99_service < min(p99_fastapi, p99_starlette),
            f"{p99_service:.1f} ms vs {p99_fastapi:.1f} ms and {p99_starlette:.1f} ms",
        ),
    ]


def strategies_line(phase: dict[str, Any], env: dict[str, Any]) -> list[str]:
    """The Strategies PUT on PostgreSQL, reported the same way (no target of its own)."""
    cells = phase["cells"].get("strategies", {})
    if "pgbench" not in cells:
        return []
    p99 = statistics.median(x["p99_ms"] for x in cells["service"])
    return [
        f"- reported: Strategies PUT req/s vs pgbench's tps for its transaction "
        f"{ratio_text(cells, 'pgbench')}, vs {label('fastapi_async', env)} "
        f"{ratio_text(cells, 'fastapi_async')}, p99 {p99:.1f} ms",
    ]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = results["phases"]
    fig, axes = plt.subplots(1, len(phases), figsize=(6.5 * len(phases), 4.8), squeeze=False)
    colors = {
        "service": "#1f6feb",
        "fastapi": "#d29922",
        "fastapi_async": "#d29922",
        "starlette": "#8957e5",
        "pgbench": "#2da44e",
    }
    env = results["environment"]
    for ax, phase in zip(axes[0], phases, strict=True):
        surfaces = list(phase["cells"])
        # the echo, 20-40x higher, is a tick note
        bars_for = [
            v for v in LABELS if v != "echo" and any(v in c for c in phase["cells"].values())
        ]
        width = 0.8 / len(bars_for)
        for i, variant in enumerate(bars_for):
            xs, medians, low, high = [], [], [], []
            for j, surface in enumerate(surfaces):
                runs = [x["rps"] for x in phase["cells"][surface].get(variant, [])]
                if not runs:
                    continue
                median = statistics.median(runs)
                xs.append(j + (i - (len(bars_for) - 1) / 2) * width)
                medians.append(median)
                low.append(median - min(runs))
                high.append(max(runs) - median)
            ax.bar(
                xs,
                medians,
                width,
                yerr=[low, high],
                capsize=3,
                label=label(variant, env),
                color=colors[variant],
            )
            for x, median in zip(xs, medians, strict=True):
                ax.annotate(
                    f"{median:.0f}",
                    (x, 0),
                    xytext=(0, 4),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color="white",
                    fontweight="bold",
                )
        ticks = []
        for surface in surfaces:
            echo = [x["rps"] for x in phase["cells"][surface].get("echo", [])]
            name = " ".join(SURFACE_LABELS[surface].split(" ")[:2])
            note = f"\n(JSON echo ceiling: {statistics.median(echo):,.0f}/s)" if echo else ""
            ticks.append(name + note)
        ax.set_xticks(range(len(surfaces)), ticks)
        ax.set_title(phase["title"], fontsize=10)
        ax.set_ylabel("requests/s (median of rounds, whiskers: min-max)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"wrk, {env['args']['connections']} connections, {env['args']['rounds']} "
        f"interleaved rounds of {env['args']['duration']} s — {env['nproc']} cores, "
        f"{env['date']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile_section(prof: dict[str, Any] | None, args: dict[str, Any]) -> list[str]:
    if not prof:
        return []
    if "categories" not in prof:
        return ["## Profile", "", f"py-spy failed: {prof.get('error')}", ""]
    phase = prof.get("phase", "SQLite (WAL, synchronous=NORMAL), 1 worker")
    lines = [
        f"## Where the service spends its time (py-spy): {phase}",
        "",
        f"`py-spy record` at 200 Hz for {args['profile_seconds']} s on the service (every "
        f"worker process) under trade PATCH load, {args['connections']} connections "
        f"({prof['samples']} samples, `{prof['file']}`"
        + (f"; {prof['rps']:.0f} req/s while sampled" if "rps" in prof else "")
        + "). Each sample is charged to the deepest frame of a known kind (SQLAlchemy called "
        "from `models/` counts as database); py-spy runs without `--idle`, and the samples "
        "it still takes of threads that wait are counted as waiting by their leaf frame:",
        "",
        "| where | share of samples |",
        "|---|---|",
    ]
    lines += [f"| {name} | {share:.1%} |" for name, share in prof["categories"]]
    if prof.get("threads"):
        lines += [
            "",
            "By thread:",
            "",
            "| thread | share of all samples | share of the samples not waiting |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {a:.1%} | {b:.1%} |" for name, a, b in prof["threads"]]
    lines += ["", "Hottest leaf functions:", "", "| function | share |", "|---|---|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in prof["leaves"]]
    lines.append("")
    return lines


def write(results: dict[str, Any], out: Path) -> None:
    plot(results, out / "results.png")
    env, extras = results["environment"], results["extras"]
    args = env["args"]
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (`.venv/bin/python -m bench`); rerun it to refresh this file,",
        "`results.png`, `results.json` and `profile-*.speedscope.json` (flame graphs: open them",
        "in speedscope). `bench/NOTES.md` (the findings below) is written by hand and kept.",
        "",
        "![requests/s per variant and surface](results.png)",
        "",
        "## Setup",
        "",
        f"- date: {env['date']}; machine: {env['nproc']} cores ({env['cpu']}), load average "
        f"{env['loadavg_start'][0]:.1f} at start, {env['loadavg_end'][0]:.1f} at end (the "
        "benchmark itself keeps both cores busy); absolute numbers move between runs, so "
        "compare the interleaved ratios.",
        f"- Python {env['python']}, SQLite {env['sqlite']}, {env['wrk']}, "
        f"{env.get('pgbench', 'pgbench')}; "
        + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
        f"- load: wrk, 1 thread, {args['connections']} connections, {args['duration']} s per cell "
        f"and round, {args['rounds']} rounds after a {args['warmup']} s warm-up per cell; "
        "each round runs every (surface, variant) cell once, variants in an order rotated "
        "per round. "
        f"Rows picked at random among {args['rows']} pre-created trades / purchases "
        "(`bench/wrk/*.lua`).",
        "- trade PATCH: the document's 12-field body (quantity and total vary), headers "
        "tenantId/userId/countryCode, a user-bound Bearer token. Strategies PUT: the curl "
        "example's free-form `outputs`.",
        "- variants, each its own uvicorn process (httptools, no access log) on 127.0.0.1 "
        "with its own database, created by the service's migrations and filled identically:",
        "  - **tradepost**: `tradepost serve` with production defaults (its one-line request log "
        "and metrics on, token cache 5 s, the asyncio event loop: see the notes below);",
        "  - **FastAPI + SQLModel** (`bench/references/fastapi_app.py`): Pydantic body model with "
        "the spec's constraints, header parameters, Bearer token looked up in the hashed token "
        "table on every request, load → setattr → commit → refresh → response model; `def` "
        "endpoints (thread pool), as in the SQLModel tutorial; on SQLite;",
        "  - **FastAPI + SQLModel, async** (`bench/references/fastapi_async_app.py`): the same "
        "models and steps on SQLAlchemy's asyncio extension (`create_async_engine`, SQLModel's "
        "`AsyncSession`, `async def` endpoints, every database call awaited), what a FastAPI "
        f"user picks on PostgreSQL; driver {args.get('async_driver', 'asyncpg')}; on PostgreSQL;",
        "  - **Starlette + ORM** (`bench/references/starlette_app.py`): the same ORM update, no "
        "validation, no authentication, `async def` on the loop;",
        "  - **echo** (`bench/references/echo_app.py`): parse the JSON body and send it back;",
        "  - the references run uvicorn's default event loop (uvloop);",
        "  - **pgbench** (`bench/pgbench.py`, PostgreSQL only): the statements the service "
        "sends for one request, recorded from its own domain functions (the read, then one "
        "`WITH updated AS (UPDATE ... guarded by the version) INSERT INTO change_history` "
        "statement, in autocommit mode; the Strategies PUT's token lookup first) on the "
        "service's own database, same rows, same bind values, prepared statements, "
        f"{args['connections']} clients on one thread: the database's ceiling for that work.",
        "- CPU per request: the CPU time of the variant's processes (a server's process group; "
        "pgbench itself) and of every PostgreSQL process, from `/proc` before and after each "
        "run, divided by the requests it answered (`bench/cpu.py`). At one connection "
        f"({args.get('quiet_duration', 1)} s per cell and round), what the latency spends "
        "beyond that CPU is a wait.",
        "",
    ]
    for phase in results["phases"]:
        durability = ", ".join(f"`{k}` = {v}" for k, v in phase["durability"].items())
        lines += [f"## {phase['title']}", "", f"Durability: {durability}.", ""]
        lines += phase_table(phase, env)
        lines += quiet_table(phase, env)
        lines += ["", "Targets (issue 30):", ""]
        for name, met, value in targets(phase, results["phases"]):
            lines.append(f"- {'**met**' if met else '**not met**'}: {name} — {value}")
        lines += strategies_line(phase, env)
        lines.append("")
    if "postgres_skipped" in extras:
        lines += [f"PostgreSQL phase skipped: {extras['postgres_skipped']}", ""]
    year = extras.get("year")
    if year:
        met = year["median"] < YEAR_TARGET_S
        lines += [
            "## A year of Strategies outputs",
            "",
            f"PUT of {year['entries']:,} entries (4 models x 4 markets x 35,040 quarter-hours), "
            f"a {year['body_mb']:.1f} MB body, to the SQLite service above (1 worker), "
            f"answered with the stored outputs ({year['response_mb']:.1f} MB): round trip "
            f"median **{year['median']:.2f} s** of "
            + ", ".join(f"{t:.2f}" for t in year["times"])
            + f" s — target < {YEAR_TARGET_S:.0f} s **{'met' if met else 'not met'}**.",
            "",
        ]
    calc = extras.get("calculations")
    if calc:
        met = calc["median"] < calculations.TARGET_S
        lines += [
            "## Carbon calculations",
            "",
            f"`POST /v2/calculations` of {calc['items']} flights (ICAO and DEFRA, by airport "
            f"code, items and legs expanded) to the SQLite service above, one request at a "
            f"time, {calc['repeats']} times: round trip median "
            f"**{calc['median'] * 1000:.1f} ms**, p90 {calc['p90'] * 1000:.1f} ms, max "
            f"{calc['max'] * 1000:.1f} ms — target well under "
            f"{calculations.TARGET_S * 1000:.0f} ms **{'met' if met else 'not met'}**.",
            "",
        ]
    for key in ("profile", "profile_postgres"):
        lines += profile_section(extras.get(key), args)
    notes = out / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    (out / "RESULTS.md").write_text("\n".join(lines))
