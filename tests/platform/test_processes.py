"""Several server processes on one PostgreSQL database behave as one service."""

from __future__ import annotations

import contextlib
import functools
import http.client
import signal
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from models.common.tokens import mint_token
from models.strategies.customers import create_customer, hash_password
from tests.conftest import Figures, truncate_all
from tests.servers import Server, running_server
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

pytestmark = pytest.mark.slow

TRADE = {"productId": "p", "quantity": 10, "indicativeUnitPrice": 5, "productUnitType": "Units"}


def stops_gracefully(server: Server) -> bool:
    """uvicorn finishes in-flight work; ``tradepost serve`` then exits 0."""
    return server.stop() == 0 and "Application shutdown complete" in (server.log.read_text())


@pytest.mark.postgres
def test_writes_through_either_process_are_visible_through_both(
    pg_database: str, tmp_path: Path
) -> None:
    truncate_all(pg_database)
    db = Database(create_db_engine(Settings(database_url=pg_database)))
    with db.write() as session:
        token, _ = mint_token(session, kind="trades", tenant_id="TEN123", user_id="USR456")
    db.dispose()
    headers = {
        "Authorization": f"Bearer {token}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }
    with (
        running_server(pg_database, tmp_path) as first,
        running_server(pg_database, tmp_path) as second,
    ):
        servers = [first, second]

        def create_then_update(i: int) -> tuple[str, int]:
            writer, other = servers[i % 2], servers[(i + 1) % 2]
            created = httpx.post(f"{writer.url}/api/v1/trades", json=TRADE, headers=headers)
            assert created.status_code == 201, created.text
            trade_id = created.json()["tradeId"]
            updated = httpx.patch(
                f"{other.url}/api/v1/trades/{trade_id}", json={"quantity": i}, headers=headers
            )
            assert updated.status_code == 200, updated.text
            return trade_id, i

        with ThreadPoolExecutor(max_workers=8) as pool:
            written = list(pool.map(create_then_update, range(40)))

        for trade_id, quantity in written:
            for server in servers:
                trade = httpx.get(f"{server.url}/api/v1/trades/{trade_id}", headers=headers).json()
                assert (trade["quantity"], trade["version"]) == (quantity, 2)
        listed = httpx.get(f"{first.url}/api/v1/trades?limit=100", headers=headers).json()
        assert len(listed["items"]) == 40
        assert stops_gracefully(first)
        assert stops_gracefully(second)


@pytest.mark.postgres
def test_a_password_change_revokes_login_tokens_in_every_process_at_once(
    pg_database: str, tmp_path: Path
) -> None:
    """The API token cache (5 s by default) never holds login tokens: the revocation made
    through one process is refused by the other on the very next request."""
    truncate_all(pg_database)
    db = Database(create_db_engine(Settings(database_url=pg_database)))
    with db.write() as session:
        create_customer(
            session,
            tenant_id="CUST1",
            username="example_user",
            email="customer@example.com",
            password_hash=hash_password("correct horse battery staple"),
            retailer_ids=("123",),
        )
    db.dispose()
    credentials = {"email": "customer@example.com", "password": "correct horse battery staple"}
    strategies = "/api/v0/strategies/example_user?idretailer=123"
    env = {"TRADEPOST_TOKEN_CACHE_SECONDS": "60"}
    with (
        running_server(pg_database, tmp_path, env=env) as first,
        running_server(pg_database, tmp_path, env=env) as second,
    ):
        token = httpx.post(f"{first.url}/api/v0/auth/login/", json=credentials).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{second.url}{strategies}", headers=bearer).status_code == 200
        changed = httpx.post(
            f"{first.url}/api/v0/auth/password/",
            json={
                "old_password": credentials["password"],
                "new_password": "a much longer passphrase",
                "new_password_confirmation": "a much longer passphrase",
            },
            headers=bearer,
        )
        assert changed.status_code == 204, changed.text
        for server in (second, first):
            refused = httpx.get(f"{server.url}{strategies}", headers=bearer)
            assert (refused.status_code, refused.json()) == (401, {"detail": "Invalid token."})
        assert stops_gracefully(first)
        assert stops_gracefully(second)


def test_metrics_add_up_over_worker_processes(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'workers.db'}"
    with running_server(database, tmp_path, "--workers", "2") as server:
        wait_for(lambda: server.log.read_text().count("Application startup complete") == 2)
        with httpx.Client(base_url=server.url) as client:
            for _ in range(30):
                assert client.get("/readyz").status_code == 200
            scrapes = [client.get("/metrics").text for _ in range(4)]
        line = 'tradepost_requests_total{method="GET",operation="readyz",status="200"} 30.0'
        assert all(line in scrape.splitlines() for scrape in scrapes)
        assert stops_gracefully(server)


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def keep_alive_latencies(connection: http.client.HTTPConnection, requests: int) -> list[float]:
    """Seconds per ``GET /healthz``, one after another on one keep-alive connection."""
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
        took.append(time.perf_counter() - started)
    return took


def all_started(server: Server, workers: int) -> bool:
    return server.log.read_text().count("Application startup complete") == workers


def test_keep_alive_requests_do_not_wait_for_delayed_acks_with_several_workers(
    tmp_path: Path, figures: Figures
) -> None:
    """Issue 30 / 26 (8): with ``--workers N`` the per-worker sockets were made with protocol
    0, so asyncio never set TCP_NODELAY on accepted connections and every keep-alive
    response written in two pieces waited ~40 ms for the client's delayed ACK.

    Both servers run at once and are measured in alternating rounds, so that the rest of a
    loaded machine (the test suite) weighs on both alike; the lower quartile is compared,
    because a delayed ACK stalls nearly every request and scheduling noise only the tail."""
    with contextlib.ExitStack() as stack:
        servers = {}
        connections: dict[int, http.client.HTTPConnection] = {}
        for workers in (1, 2):
            database = f"sqlite:///{tmp_path / f'nodelay-{workers}.db'}"
            server = stack.enter_context(
                running_server(database, tmp_path, "--workers", str(workers))
            )
            servers[workers] = server
        took: dict[int, list[float]] = {1: [], 2: []}
        for workers, server in servers.items():
            wait_for(functools.partial(all_started, server, workers))
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            stack.callback(connection.close)
            keep_alive_latencies(connection, 5)  # warms the worker up
            connections[workers] = connection
        for _ in range(6):
            for workers, connection in connections.items():
                took[workers] += keep_alive_latencies(connection, 10)
    quartiles = {workers: statistics.quantiles(t, n=4)[0] for workers, t in took.items()}
    # Before: a median of 47.8 ms with 2 workers against 4.3 ms with 1 (a delayed ACK each).
    assert quartiles[2] < quartiles[1] + 0.015, (
        f"keep-alive GET /healthz, lower quartile: {quartiles}"
    )
    medians = {workers: statistics.median(t) for workers, t in took.items()}
    with figures():
        print(
            f"\nkeep-alive GET /healthz, 60 on one connection each, servers side by side: "
            f"median 1 worker {medians[1] * 1000:.2f} ms, 2 workers {medians[2] * 1000:.2f} ms"
        )


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """Issue 26 (7): after SIGKILL to the supervisor of ``serve --workers 2`` its workers
    kept serving, and a new supervisor started beside them on the same port."""
    database = f"sqlite:///{tmp_path / 'orphans.db'}"
    with running_server(database, tmp_path, "--workers", "2") as server:
        wait_for(lambda: server.log.read_text().count("Application startup complete") == 2)
        workers = children_of(server.process.pid)
        assert len(workers) >= 2
        server.stop(signal.SIGKILL)
        wait_for(lambda: not any(alive(pid) for pid in workers), timeout=20)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/healthz", timeout=2)
