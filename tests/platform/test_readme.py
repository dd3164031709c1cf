"""The README's Quick start runs as pasted, against ``make run``.

Its first shell snippet (``make run``) is run as ``make run PORT=<free port>``, which must
print a token and the docs address; every later ``sh`` snippet of the section (the trade,
Strategies and carbon-offset flows, webhooks) is then run in order, as one bash script,
with only the port changed, from a directory that looks like the repository root (its
``.venv``). Every ``curl`` fails on an HTTP error (``--fail-with-body``), an unset
variable fails (``set -u``), and the downloaded certificate must be a PDF. Blocks meant as
syntax references are fenced as ``text`` and not run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port
from tradepost.app import SPEC_PATH

pytestmark = pytest.mark.slow

ROOT = SPEC_PATH.parent
README = ROOT / "README.md"
VENV = Path(sys.executable).parent.parent  # the venv itself, not its interpreter


def quick_start_snippets() -> list[str]:
    text = README.read_text()
    section = text[
        text.index("## Quick start") : text.index("\n## ", text.index("## Quick start") + 1)
    ]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def test_the_first_snippet_is_make_run() -> None:
    snippets = quick_start_snippets()
    assert snippets[0].strip() == "make run"
    assert len(snippets) >= 4  # trades, Strategies, carbon offsets, webhooks


def test_quick_start_runs_as_pasted(tmp_path: Path) -> None:
    if subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("the checkout's .venv is not up to date (`make install`)")
    port = free_port()
    env = {
        **os.environ,
        "TRADEPOST_DATABASE_URL": f"sqlite:///{tmp_path / 'tradepost.db'}",
    }
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert make.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            with suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        printed = log.read_text()
        assert f"http://127.0.0.1:{port}/docs/" in printed
        assert re.search(r"^tp_\S+$", printed, flags=re.MULTILINE), printed

        workdir = tmp_path / "checkout"
        workdir.mkdir()
        (workdir / ".venv").symlink_to(VENV)
        script = "\n".join(
            [
                "set -euo pipefail",
                'curl() { command curl --fail-with-body "$@"; }',
                *(
                    snippet.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
                    for snippet in quick_start_snippets()[1:]
                ),
            ]
        )
        done = subprocess.run(
            ["bash", "-x", "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
        assert (workdir / "certificate.pdf").read_bytes().startswith(b"%PDF-")
    finally:
        with suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(10)
