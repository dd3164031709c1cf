"""The service and the references, each its own uvicorn process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
REFERENCES = {
    "fastapi": "bench.references.fastapi_app:create_app",
    "fastapi_async": "bench.references.fastapi_async_app:create_app",
    "starlette": "bench.references.starlette_app:create_app",
    "echo": "bench.references.echo_app:create_app",
}


def service_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with the service's production defaults: no TRADEPOST_* override leaks in,
    except that the per-credential rate limit is off, because one token drives the whole
    load and its limit (on by default since issue 26) would answer most of it 429."""
    env = {k: v for k, v in base.items() if not k.startswith("TRADEPOST_")}
    env["TRADEPOST_SQLITE_SYNCHRONOUS"] = "NORMAL"  # the default, stated
    env["TRADEPOST_RATE_LIMIT_PER_MINUTE"] = "0"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own process group
                self.process.wait(5)


def start(
    name: str,
    database_url: str | None,
    workers: int,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> Server:
    server = launch(name, database_url, workers, log_dir, env)
    server.wait_ready()
    return server


def launch(
    name: str,
    database_url: str | None,
    workers: int,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Start without waiting; ``service`` is ``tradepost serve``, any other a reference."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    if name == "service":
        env["TRADEPOST_DATABASE_URL"] = database_url or ""
        command = [str(BIN / "tradepost"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers)]
    else:
        if database_url:
            env["BENCH_DATABASE_URL"] = database_url
        command = [str(BIN / "python"), "-m", "uvicorn", "--factory", REFERENCES[name]]
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        command += ["--no-access-log", "--log-level", "warning"]
    log = log_dir / f"{name}-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, process, port, log)
