"""Nothing blocks the event loop: measured per request under load, with a control that
shows the measure would catch it.

The service runs in this process under uvicorn (its own thread and asyncio loop) with
every database statement slowed by ``LATENCY`` (SQLite: a pause before each statement,
a slow disk; PostgreSQL: a proxy that holds every answer of the server, a slow network
or server, whichever way the service waits for it), and every
callback the loop runs is timed three ways: wall time, the thread's CPU time and its
wait for a CPU (``/proc/thread-self/schedstat``). What is left, wall minus CPU minus
run-queue wait, is time the loop's thread spent blocked: in I/O, a lock or the GIL.
CPU contention from other tests is subtracted, so the figure does not depend on how
busy the machine is.

The control puts database work back on the loop the way the service ran it before
issue 17: every statement then blocks the loop for ``LATENCY``. Every other test guards
the same rule statically: ``forbid_loop_io`` makes a statement on the loop's thread raise
(tests/conftest.py, tests/servers.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from tests.conftest import Figures, TokenFactory
from tests.factories import make_trade
from tests.servers import uvicorn_in_thread
from tradepost.app import create_app
from tradepost.db import Database
from tradepost.settings import Settings

SCHEDSTAT = Path("/proc/thread-self/schedstat")
LATENCY = 0.010  # seconds added to every database statement
CLIENTS = 8
REQUESTS_PER_CLIENT = 8
# A request makes about four statements (token lookup once, then the locked read, the
# update, the history insert, the commit); "a few milliseconds" of blocking per request
# is the bound, far below one statement's LATENCY.
BOUND = 0.005
HEADERS = {"tenantId": "TEN123", "userId": "USR456", "countryCode": "US"}

pytestmark = pytest.mark.skipif(
    not SCHEDSTAT.exists(), reason="needs Linux's per-thread schedstat to subtract CPU waits"
)


def _schedstat() -> tuple[int, int]:
    """This thread's nanoseconds on a CPU and waiting for one."""
    on_cpu, waiting, _slices = SCHEDSTAT.read_text().split()
    return int(on_cpu), int(waiting)


class BlockedClock:
    """Sums, over the callbacks one thread's loop runs, wall time not spent on or waiting
    for a CPU."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.blocked_ns = 0
        self.worst_ns = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        run = asyncio.events.Handle._run
        clock = self

        def timed(handle: asyncio.events.Handle) -> None:
            if threading.get_ident() != clock.thread:
                return run(handle)
            wall, (cpu, waited) = time.perf_counter_ns(), _schedstat()
            try:
                return run(handle)
            finally:
                cpu_after, waited_after = _schedstat()
                blocked = (
                    (time.perf_counter_ns() - wall) - (cpu_after - cpu) - (waited_after - waited)
                )
                if blocked > 0:
                    clock.blocked_ns += blocked
                    clock.worst_ns = max(clock.worst_ns, blocked)

        monkeypatch.setattr(asyncio.events.Handle, "_run", timed)


@contextmanager
def serving(settings: Settings, clock: BlockedClock) -> Iterator[str]:
    def on_thread() -> None:
        clock.thread = threading.get_ident()

    app = create_app(settings)
    with uvicorn_in_thread(app, on_thread=on_thread, loop="asyncio", log_level="warning") as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def slow_statements() -> Iterator[None]:
    def pause(*_args: Any) -> None:
        time.sleep(LATENCY)

    event.listen(Engine, "before_cursor_execute", pause)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", pause)


PROXY = """
import asyncio, sys

async def pump(reader, writer, delay):
    try:
        while chunk := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()

async def main(host, port, delay):
    async def connected(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(
            pump(client_reader, server_writer, 0.0), pump(server_reader, client_writer, delay)
        )

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


@contextmanager
def slow_link(host: str, port: int) -> Iterator[int]:
    """A TCP proxy to ``host:port``, in its own process (no GIL shared with the server),
    that holds every chunk the server sends for ``LATENCY`` before passing it on."""
    command = [sys.executable, "-c", PROXY, host, str(port), str(LATENCY)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proxy:
        try:
            assert proxy.stdout is not None
            yield int(proxy.stdout.readline())
        finally:
            proxy.terminate()


@contextmanager
def slow_database(settings: Settings) -> Iterator[Settings]:
    """``settings`` whose every statement takes ``LATENCY`` longer."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        with slow_statements():
            yield settings
        return
    with slow_link(url.host or "127.0.0.1", url.port or 5432) as port:
        slow_url = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        yield settings.model_copy(update={"database_url": slow_url})


LOAD = """
import asyncio, sys
import httpx

async def main(url, token, trade_ids, clients, per_client):
    headers = {"tenantId": "TEN123", "userId": "USR456", "countryCode": "US",
               "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        async def client(number):
            for request in range(per_client):
                trade = trade_ids[(number + request) % len(trade_ids)]
                response = await http.patch(
                    f"/api/v1/trades/{trade}", json={"quantity": 1000 + request}
                )
                assert response.status_code == 200, response.text
        await asyncio.gather(*(client(n) for n in range(clients)))

url, token, clients, per_client, *trade_ids = sys.argv[1:]
asyncio.run(main(url, token, trade_ids, int(clients), int(per_client)))
"""


def _load(url: str, token: str, trade_ids: list[str]) -> int:
    """CLIENTS concurrent clients in another process: no GIL shared with the server."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD,
            url,
            token,
            str(CLIENTS),
            str(REQUESTS_PER_CLIENT),
            *trade_ids,
        ],
        check=True,
        timeout=300,
    )
    return CLIENTS * REQUESTS_PER_CLIENT


def blocked_per_request(
    settings: Settings, token: str, trade_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[float, float]:
    """Seconds the loop was blocked per request, and its worst single callback."""
    clock = BlockedClock()
    clock.install(monkeypatch)
    with slow_database(settings) as slowed, serving(slowed, clock) as url:
        requests = _load(url, token, trade_ids)
    return clock.blocked_ns / requests / 1e9, clock.worst_ns / 1e9


def on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: database work run with blocking calls where the request runs, as
    before issue 17."""

    async def run_read(self: Database, work: Any, *args: Any, **kwargs: Any) -> Any:
        with self.read() as session:
            return work(session, *args, **kwargs)

    async def run_write(self: Database, work: Any, *args: Any, **kwargs: Any) -> Any:
        with self.write() as session:
            return work(session, *args, **kwargs)

    monkeypatch.setattr(Database, "run_read", run_read)
    monkeypatch.setattr(Database, "run_write", run_write)
    monkeypatch.setattr(Database, "run_statements", run_write)


def test_database_work_never_blocks_the_loop(
    settings: Settings,
    db: Database,
    make_token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    figures: Figures,
) -> None:
    token = make_token("TEN123", "USR456")
    trade_ids = [make_trade(db).id for _ in range(CLIENTS * 2)]

    blocked, worst = blocked_per_request(settings, token, trade_ids, monkeypatch)

    on_the_loop(monkeypatch)
    control_settings = settings.model_copy(update={"forbid_loop_io": False})
    control, control_worst = blocked_per_request(control_settings, token, trade_ids, monkeypatch)

    backend = settings.database_url.split(":")[0].split("+")[0]
    with figures():
        print(
            f"event loop blocked per request [{backend}], {LATENCY * 1000:.0f} ms per "
            f"statement: {blocked * 1000:.2f} ms (worst callback {worst * 1000:.1f} ms) as "
            f"served; {control * 1000:.1f} ms (worst {control_worst * 1000:.1f} ms) with "
            f"blocking database calls on the loop"
        )
    assert control > 3 * LATENCY, "the control must show statements blocking the loop"
    assert blocked < BOUND
