"""Schemathesis's CLI against a real server, every check and phase, on both backends.

The server is started the way the README starts it (``tradepost db upgrade``, a fresh
token from ``tradepost tokens create``, ``tradepost serve`` on 127.0.0.1). The budget per
operation comes from ``TRADEPOST_FUZZ_EXAMPLES``: 30 by default, which keeps ``make test``
shorter and still reaches every declared link; ``.ci/run`` sets 100. The seed is
schemathesis.toml's. The run's summary is printed into the test log.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Figures, recreate_pg_database, suffixed_database
from tests.contract import resolve
from tests.contract import spec as contract_spec
from tests.servers import TRADEPOST, Server, running_server
from tradepost.app import SPEC_PATH

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
EXAMPLES = os.environ.get("TRADEPOST_FUZZ_EXAMPLES", "30")
TENANT, USER = "TEN123", "USR456"


def cli(database_url: str, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "TRADEPOST_DATABASE_URL": database_url}
    return subprocess.run(
        [TRADEPOST, *args], env=env, input=stdin, capture_output=True, text=True, check=True
    ).stdout.strip()


# Tags, one run each (the offsets surface's webhooks and calculations have tags of their
# own, so that each stateful phase has one resource's links to chain). A trade tracking
# needs a trade: its lane runs the trades too, so that createTrade's link reaches
# createTradeTracking (the lane's budget is that of both tags).
SURFACES = (
    "trades",
    "trade-requests",
    "trade-trackings",
    "trade-tracking-pipeline",
    "strategies",
    "offsets",
    "webhooks",
    "calculations",
    "service",
)
# Operations of another tag a lane runs too: a tracking belongs to a trade, so its stateful
# chains start at createTrade (createTrade -> createTradeTracking -> the tracking's links).
# Only that one: with every trade operation in the lane, createTrade's own 13 links took
# the scenarios and two tracking links went unfollowed.
LANE_EXTRA_OPERATIONS = {"trade-trackings": ("createTrade",)}


def lane_tags(lane: str) -> tuple[str, ...]:
    """The tags a lane runs: its own."""
    return (lane,)


def in_lane(lane: str, operation: dict[str, Any]) -> bool:
    return lane in operation.get("tags", []) or operation["operationId"] in (
        LANE_EXTRA_OPERATIONS.get(lane, ())
    )


def test_every_tag_is_fuzzed() -> None:
    spec = contract_spec()  # parsed once per process (tests.contract)
    assert {tag["name"] for tag in spec["tags"]} == {
        t for lane in SURFACES for t in lane_tags(lane)
    }


def explicit_links(tag: str) -> set[tuple[str, str, str]]:
    """``(source operation, status, link name)`` of every link the spec declares from an
    operation the lane runs to one of the lane's own tag (a run filtered by tag cannot
    follow the others, such as a calculation's quote to ``createPurchase``; the in-process
    run reaches those)."""
    spec = contract_spec()  # parsed once per process (tests.contract)
    tags = {
        operation["operationId"]: operation.get("tags", [])
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
    }
    return {
        (f"{method.upper()} {path}", status, name)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and in_lane(tag, operation)
        for status, response in operation["responses"].items()
        for name, link in resolve(response).get("links", {}).items()
        if lane_tags(tag)[0] in tags.get(link.get("operationId"), [])
    }


def covered_links(ndjson: Path) -> set[tuple[str, str, str]]:
    pattern = re.compile(r"^(\S+ \S+) -> \[(\d+)\] (\S+) -> ")
    found = set()
    for line in ndjson.read_text().splitlines():
        for transition in re.findall(r'"transition": ?\{[^}]*?"id": ?"([^"]+)"', line):
            if matched := pattern.match(transition):
                found.add((matched[1], matched[2], matched[3]))
    return found


# Not the spec's example password: the examples phase sends the documented password
# change, which would revoke the run's login token (the Strategies API's only credential).
PASSWORD = "a passphrase the spec does not show"


def prepare(database_url: str) -> None:
    """Migrate, seed the example products and create the spec's login customer."""
    cli(database_url, "db", "upgrade")
    cli(database_url, "products", "seed")  # as `make run` does: something to price and buy
    cli(
        database_url,
        "customers",
        "create",
        "--tenant",
        "TEN123",
        "--user",
        "example_user",
        "--email",
        "customer@example.com",
        "--name",
        "Example Energy",
        "--retailer",
        "123",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )  # the login example's customer, with a password the spec does not show


def token_for(tag: str, database_url: str, server_url: str) -> str:
    """The credential of the tag's surface (each surface accepts only its own kind): a
    tenant-wide trade API token, the customer's login token, a carbon-offset API key."""
    if tag.startswith("trade"):  # the trades surface's tags: its families too
        return cli(database_url, "tokens", "create", "--surface", "trades", "--tenant", "TEN123")
    if tag == "strategies":
        login = httpx.post(
            f"{server_url}/api/v0/auth/login/",
            json={"email": "customer@example.com", "password": PASSWORD},
            timeout=30,
        )
        token: str = login.json()["token"]
        return token
    return cli(database_url, "tokens", "create", "--surface", "offsets", "--tenant", "TEN123")


def test_schemathesis_cli_finds_nothing(
    server_database: str, tmp_path: Path, figures: Figures
) -> None:
    """One run per surface, so that each surface's stateful phase chains its own links.

    Two surfaces run at a time, each against one of two server processes started once for
    all nine, each server on a database of its own (on SQLite a copy of one prepared file,
    on PostgreSQL the worker's test database and a second one): two lanes running at once
    never see each other's rows. (Sharing one PostgreSQL database, the trade lanes, which
    generate the same Idempotency-Keys from the same seed, replayed or refused each
    other's creates, and a declared link went unfollowed.) A lane takes whichever server
    is free.
    """
    with ExitStack() as servers:
        free: queue.Queue[tuple[Server, str]] = queue.Queue()
        for slot_dir, database in lane_databases(server_database, tmp_path):
            free.put((servers.enter_context(running_server(database, slot_dir)), database))

        def lane(tag: str) -> dict[str, Any]:
            lane_dir = tmp_path / tag
            lane_dir.mkdir()
            server, database = free.get()
            try:
                token = token_for(tag, database, server.url)
                return fuzz_surface(tag, server.url, token, server_database, lane_dir)
            finally:
                free.put((server, database))

        with ThreadPoolExecutor(max_workers=2) as pool:
            summaries = list(pool.map(lane, SURFACES))
    with figures():
        for summary in summaries:
            print(f"\n{summary['line']}", end="")
        print()
    for summary in summaries:
        assert summary["returncode"] == 0, summary["stdout"][-5000:]
        assert summary["failures"] == 0
        assert summary["tested"] == len(operations(summary["tag"])) > 0
        assert summary["explicit_missing"] == set(), summary["tag"]
        phases = summary["phases"]
        assert all(status in ("success", "skip") for status in phases.values()), phases


def lane_databases(server_database: str, tmp_path: Path) -> list[tuple[Path, str]]:
    """Two server slots, each a directory and a prepared database of its own: on SQLite
    copies of one prepared file, on PostgreSQL the worker's test database and
    ``<it>_fuzz_b`` beside it."""
    slots = [tmp_path / "a", tmp_path / "b"]
    for slot in slots:
        slot.mkdir()
    if server_database.startswith("sqlite"):
        prepared = tmp_path / "prepared.db"
        prepare(f"sqlite:///{prepared}")
        for slot in slots:
            shutil.copy(prepared, slot / "fuzz.db")
        return [(slot, f"sqlite:///{slot / 'fuzz.db'}") for slot in slots]
    second = suffixed_database(server_database, "fuzz_b")
    problem = recreate_pg_database(second)
    assert problem is None, problem
    databases = [server_database, second]
    for url in databases:
        prepare(url)
    return list(zip(slots, databases, strict=True))


def operations(tag: str) -> list[str]:
    spec = contract_spec()  # parsed once per process (tests.contract)
    return [
        operation["operationId"]
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method != "parameters" and in_lane(tag, operation)
    ]


def fuzz_surface(tag: str, url: str, token: str, backend: str, tmp_path: Path) -> dict[str, Any]:
    report, ndjson = tmp_path / f"{tag}.json", tmp_path / f"{tag}.ndjson"
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            str(SPEC_PATH),
            "--url",
            url,
            *("--include-tag", tag),
            *(
                arg
                for op in LANE_EXTRA_OPERATIONS.get(tag, ())
                for arg in ("--include-operation-id", op)
            ),
            "--checks",
            "all",
            "--phases",
            # the stateful phase needs links; the service's own endpoints have none
            "examples,coverage,fuzzing" + (",stateful" if explicit_links(tag) else ""),
            "--max-examples",
            EXAMPLES,
            "--generation-database",
            "none",
            "--report",
            "json,ndjson",
            "--report-json-path",
            str(report),
            "--report-ndjson-path",
            str(ndjson),
            # as the README's fuzzing command: credentials and the tenancy headers only
            *("-H", f"Authorization: Bearer {token}"),
            *("-H", f"tenantId: {TENANT}"),
            *("-H", f"userId: {USER}"),
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.live_fuzz_hooks"},
        cwd=SPEC_PATH.parent,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = summarise(json.loads(report.read_text()), run.stdout, backend, tag)
    summary["explicit_missing"] = explicit_links(tag) - covered_links(ndjson)
    summary["explicit_total"] = len(explicit_links(tag))
    summary["returncode"], summary["stdout"] = run.returncode, run.stdout
    summary["line"] += (
        f", explicit links {summary['explicit_total'] - len(summary['explicit_missing'])}/"
        f"{summary['explicit_total']}"
    )
    return summary


def summarise(report: dict[str, Any], stdout: str, backend: str, tag: str) -> dict[str, Any]:
    links = re.search(r"API Links:\s+(\d+) covered / \d+ selected / (\d+) total", stdout)
    scenarios = re.search(r"Scenarios:\s+(\d+)", stdout)
    summary: dict[str, Any] = {
        "tag": tag,
        "operations": report["operations"]["total"],
        "tested": report["operations"]["tested"],
        "cases": report["test_cases"]["generated"],
        "failures": report["test_cases"]["unique_failures"],
        "links_covered": int(links[1]) if links else 0,
        "links_total": int(links[2]) if links else 0,
        "scenarios": int(scenarios[1]) if scenarios else 0,
        "phases": {name: phase["status"] for name, phase in report["phases"].items()},
    }
    summary["line"] = (
        f"schemathesis live [{backend.split(':')[0].split('+')[0]}/{tag}]: {summary['tested']}/"
        f"{summary['operations']} operations, {summary['cases']} cases, "
        f"{summary['failures']} failures, links {summary['links_covered']}/"
        f"{summary['links_total']} (inferred included), {summary['scenarios']} stateful "
        f"scenarios, seed {report['seed']}, {EXAMPLES} examples per operation, "
        f"{report['running_time']:.0f} s"
    )
    return summary
