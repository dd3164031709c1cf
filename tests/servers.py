"""Real ``tradepost serve`` processes for tests that need a server on a socket."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from connexion.spec import OpenAPISpecification, Specification

from tradepost.app import load_spec
from tradepost.connexion_glue import spec as spec_check

TRADEPOST = str(Path(sys.executable).with_name("tradepost"))


@functools.cache
def checked_spec_digest() -> str:
    """openapi.yaml checked against the OpenAPI meta-schema here, once per test process, so
    that the servers the tests start need not check it again each (0.3-0.6 s a process)."""
    document = load_spec()
    Specification._validate_spec.__func__(OpenAPISpecification, document)
    return spec_check.digest(document)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def uvicorn_in_thread(
    app: Any,
    *,
    sockets: list[socket.socket] | None = None,
    on_thread: Callable[[], None] | None = None,
    **config: Any,
) -> Iterator[int]:
    """``app`` served by uvicorn (``config``: its options) on a thread of this process, on
    ``sockets`` or else a free port on 127.0.0.1, from started to stopped; yields the port.
    ``on_thread`` runs on the server's thread first. For tests that look inside the server."""
    if sockets is None:
        config = {"host": "127.0.0.1", "port": free_port(), **config}
    server = uvicorn.Server(uvicorn.Config(app, **config))

    def run() -> None:
        if on_thread is not None:
            on_thread()
        server.run(sockets=sockets)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "server did not start"
        assert time.monotonic() < deadline, "server did not start in 30 s"
        time.sleep(0.05)
    try:
        port: int = sockets[0].getsockname()[1] if sockets else config["port"]
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class Server:
    def __init__(
        self, process: subprocess.Popen[bytes], port: int, log: Path, database_url: str
    ) -> None:
        self.process = process
        self.database_url = database_url
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextmanager
def running_server(
    database_url: str,
    log_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    ready_timeout: float = 90,  # start-up imports take a while on a busy two-core machine
) -> Iterator[Server]:
    port = free_port()
    log = log_dir / f"server-{port}.log"
    environment = {
        **os.environ,
        "TRADEPOST_DATABASE_URL": database_url,
        # Every database statement on the event loop's thread fails (tradepost/db.py).
        "TRADEPOST_FORBID_LOOP_IO": "true",
        "TRADEPOST_SPEC_CHECKED_SHA256": checked_spec_digest(),
        # Fuzzers and floods send far more than a client would (the limits are on by
        # default; tests/platform/test_ratelimit.py turns them on where it tests them).
        "TRADEPOST_RATE_LIMIT_PER_MINUTE": "0",
        "TRADEPOST_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE": "0",
        "TRADEPOST_LOGIN_ATTEMPTS_PER_MINUTE": "0",
        "TRADEPOST_LOGIN_FAILURES_PER_MINUTE": "0",
        **(env or {}),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [TRADEPOST, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are cleaned up with it
        )
    server = Server(process, port, log, database_url)
    try:
        server.wait_ready(ready_timeout)
        yield server
    finally:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
        # `--workers N` children outlive a killed parent; end the whole group.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
