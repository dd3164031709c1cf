"""Schemathesis's CLI against a real server, every check and phase, on both backends.

The server is started the way the README starts it (``tradepost db upgrade``, a fresh
token from ``tradepost tokens create``, ``tradepost serve`` on 127.0.0.1). The budget per
operation comes from ``TRADEPOST_FUZZ_EXAMPLES`` (default 100; CI may raise it) and the
seed from schemathesis.toml. The run's summary is printed into the test log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import truncate_all
from tests.servers import TRADEPOST, running_server
from tradepost.app import SPEC_PATH

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
HOOKS = str(Path(__file__).with_name("live_fuzz_hooks.py"))
EXAMPLES = os.environ.get("TRADEPOST_FUZZ_EXAMPLES", "100")


def cli(database_url: str, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "TRADEPOST_DATABASE_URL": database_url}
    return subprocess.run(
        [TRADEPOST, *args], env=env, input=stdin, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fuzz.db'}"
    url: str = request.getfixturevalue("pg_database")
    truncate_all(url)
    return url


def test_schemathesis_cli_finds_nothing(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(backend, "db", "upgrade")
    token = cli(backend, "tokens", "create", "--tenant", "TEN123")
    cli(
        backend,
        "customers",
        "create",
        "--tenant",
        "TEN123",
        "--user",
        "example_user",
        "--email",
        "customer@example.com",
        "--password-stdin",
        stdin="correct horse battery staple\n",
    )  # the login example of the spec
    report = tmp_path / "report.json"
    with running_server(backend, tmp_path) as server:
        run = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                str(SPEC_PATH),
                "--url",
                server.url,
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                EXAMPLES,
                "--generation-database",
                "none",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            env={
                **os.environ,
                "TRADEPOST_FUZZ_TOKEN": token,
                "TRADEPOST_FUZZ_TENANT": "TEN123",
                "TRADEPOST_FUZZ_USER": "USR456",
                "SCHEMATHESIS_HOOKS": HOOKS,
            },
            cwd=SPEC_PATH.parent,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    summary = summarise(json.loads(report.read_text()), run.stdout, backend)
    with capsys.disabled():
        print(f"\n{summary['line']}")
    assert run.returncode == 0, run.stdout[-5000:]
    assert summary["failures"] == 0
    assert summary["operations"] == summary["tested"]
    assert summary["links_covered"] == summary["links_total"] > 0
    assert all(status == "success" for status in summary["phases"].values())


def summarise(report: dict[str, Any], stdout: str, backend: str) -> dict[str, Any]:
    links = re.search(r"API Links:\s+(\d+) covered / \d+ selected / (\d+) total", stdout)
    scenarios = re.search(r"Scenarios:\s+(\d+)", stdout)
    assert links, stdout[-3000:]
    assert scenarios, stdout[-3000:]
    summary: dict[str, Any] = {
        "operations": report["operations"]["total"],
        "tested": report["operations"]["tested"],
        "cases": report["test_cases"]["generated"],
        "failures": report["test_cases"]["unique_failures"],
        "links_covered": int(links[1]),
        "links_total": int(links[2]),
        "scenarios": int(scenarios[1]),
        "phases": {name: phase["status"] for name, phase in report["phases"].items()},
    }
    summary["line"] = (
        f"schemathesis live [{backend.split(':')[0].split('+')[0]}]: {summary['tested']}/"
        f"{summary['operations']} operations, {summary['cases']} cases, "
        f"{summary['failures']} failures, links {summary['links_covered']}/"
        f"{summary['links_total']}, {summary['scenarios']} stateful scenarios, "
        f"seed {report['seed']}, {EXAMPLES} examples per operation, "
        f"{report['running_time']:.0f} s"
    )
    return summary
