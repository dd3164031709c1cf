"""What a client was told is what the database holds, across SIGKILL and SIGTERM.

SIGKILL: four writers create and update trades and Strategies purchases against a real
``tradepost serve`` for a few seconds; the process is killed mid-load and started again on
the same database. Every write answered 2xx must be there with the values it acknowledged,
and no row may show half of a change: a trade's quantity, description, recomputed total
and version come from one request; a purchase's status, outputs and version too.

SIGTERM: requests whose bodies are still arriving when the signal comes (a year of strategy
outputs, and concurrent trade updates) are finished with 2xx, then the process exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlmodel import select

from models.common.tokens import mint_token
from models.strategies import retailers
from models.strategies.purchases import StrategyPurchase
from models.trades.trades import Trade, total_for
from tests.conftest import Figures, truncate_all
from tests.servers import Server, running_server
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

pytestmark = pytest.mark.slow

WRITERS = 4
LOAD_SECONDS = 2.5
PRICE = "1.25"
ROWS = [{"datetime": f"2025-01-15 {h:02d}:00", "purchase": h} for h in range(24)]


def mint(url: str, tenant: str, user: str, kind: str) -> str:
    """A token of ``kind`` for the user, a member of retailer 123 (for Strategies purchases)."""
    db = Database(create_db_engine(Settings(database_url=url)))
    with db.write() as session:
        token, _ = mint_token(session, kind=kind, tenant_id=tenant, user_id=user)
        retailers.add_retailer(session, tenant_id=tenant, user_id=user, retailer_id="123")
    db.dispose()
    return token


@dataclass
class Acknowledged:
    trades: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last acked state
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, key: str, state: dict[str, Any]) -> None:
        with self.lock:
            getattr(self, kind)[key] = state
            self.writes += 1


def write_until_stopped(
    server: Server,
    number: int,
    trade_token: str,
    customer_token: str,
    acked: Acknowledged,
    stop: threading.Event,
) -> None:
    trade_headers = {
        "Authorization": f"Bearer {trade_token}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }
    customer = {"Authorization": f"Bearer {customer_token}"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                created = client.post(
                    "/api/v1/trades",
                    headers=trade_headers,
                    json={
                        "productId": f"w{number}-{i}",
                        "description": "created",
                        "quantity": i,
                        "indicativeUnitPrice": float(PRICE),
                        "productUnitType": "Units",
                    },
                )
                if created.status_code != 201:
                    continue
                trade_id = created.json()["tradeId"]
                acked.record(
                    "trades", trade_id, {"version": 1, "quantity": i, "description": "created"}
                )
                change = {"quantity": i * 10, "description": f"updated {number}-{i}"}
                updated = client.patch(
                    f"/api/v1/trades/{trade_id}", headers=trade_headers, json=change
                )
                if updated.status_code == 200:
                    acked.record("trades", trade_id, {"version": 2, **change})
                submitted = client.post(
                    "/api/v0/user/alice/submit-purchase?retailer_id=123",
                    headers=customer,
                    json={"purchase": ROWS},
                )
                if submitted.status_code != 201:
                    continue
                purchase_id = submitted.json()["id"]
                acked.record(
                    "purchases", purchase_id, {"version": 1, "status": "pending", "outputs": None}
                )
                outputs = {"writer": number, "round": i}
                stored = client.put(
                    f"/api/v0/user/alice/purchase/{purchase_id}/update",
                    headers=customer,
                    json={"status": "in_progress", "outputs": outputs},
                )
                if stored.status_code == 200:
                    acked.record(
                        "purchases",
                        purchase_id,
                        {"version": 2, "status": "in_progress", "outputs": outputs},
                    )
            except httpx.TransportError:
                return


def trade_problems(trade: Trade) -> list[str]:
    """A row that mixes two requests, or one request half applied."""
    price = Decimal(PRICE)
    problems = []
    if trade.total_amount != total_for(trade.quantity, price):
        problems.append(f"{trade.id}: total {trade.total_amount} for {trade.quantity} x {price}")
    number, i = trade.product_id[1:].split("-")
    expected = {
        1: (Decimal(i), "created"),
        2: (Decimal(i) * 10, f"updated {number}-{i}"),
    }.get(trade.version)
    if expected != (trade.quantity, trade.description):
        problems.append(f"{trade.id}: v{trade.version} {trade.quantity} {trade.description}")
    return problems


def purchase_problems(purchase: StrategyPurchase) -> list[str]:
    problems = []
    if purchase.rows_uploaded != len(orjson.loads(purchase.rows_json)):
        problems.append(f"{purchase.id}: rows_uploaded {purchase.rows_uploaded}")
    state = (purchase.version, purchase.status, purchase.outputs_json is None)
    if state not in {(1, "pending", True), (2, "in_progress", False)}:
        problems.append(f"{purchase.id}: {state}")
    return problems


def test_acknowledged_writes_survive_sigkill(
    server_database: str, tmp_path: Path, figures: Figures
) -> None:
    with running_server(server_database, tmp_path) as server:
        trade_token = mint(server_database, "TEN123", "USR456", "trades")
        customer_token = mint(server_database, "CUST1", "alice", "strategies")
        acked, stop = Acknowledged(), threading.Event()
        writers = [
            threading.Thread(
                target=write_until_stopped,
                args=(server, n, trade_token, customer_token, acked, stop),
            )
            for n in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        time.sleep(LOAD_SECONDS)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        stop.set()
        for writer in writers:
            writer.join(15)

    with running_server(server_database, tmp_path) as restarted:
        headers = {
            "Authorization": f"Bearer {trade_token}",
            "tenantId": "TEN123",
            "userId": "USR456",
        }
        some_trade = next(iter(acked.trades))
        assert (
            httpx.get(f"{restarted.url}/api/v1/trades/{some_trade}", headers=headers).status_code
            == 200
        )
        db = Database(create_db_engine(Settings(database_url=server_database)))
        with db.read() as session:
            trades = {t.id: t for t in session.exec(select(Trade))}
            purchases = {p.id: p for p in session.exec(select(StrategyPurchase))}
        db.dispose()

    lost, stale = [], []
    for trade_id, state in acked.trades.items():
        trade = trades.get(trade_id)
        if trade is None:
            lost.append(trade_id)
        elif trade.version < state["version"] or (
            trade.version == state["version"]
            and (trade.quantity, trade.description) != (state["quantity"], state["description"])
        ):
            stale.append(trade_id)
    for purchase_id, state in acked.purchases.items():
        purchase = purchases.get(purchase_id)
        if purchase is None:
            lost.append(purchase_id)
        elif purchase.version < state["version"] or (
            purchase.version == state["version"]
            and (purchase.status, purchase.outputs_json and orjson.loads(purchase.outputs_json))
            != (state["status"], state["outputs"])
        ):
            stale.append(purchase_id)
    half_applied = [p for t in trades.values() for p in trade_problems(t)]
    half_applied += [p for p in purchases.values() for p in purchase_problems(p)]
    unacknowledged = len(trades) + len(purchases) - len(acked.trades) - len(acked.purchases)

    with figures():
        kind = server_database.split(":")[0].split("+")[0]
        print(
            f"\ndurability [{kind}] SIGKILL after {LOAD_SECONDS} s of {WRITERS} writers: "
            f"{acked.writes} writes acknowledged ({len(acked.trades)} trades, "
            f"{len(acked.purchases)} purchases); after restart found "
            f"{len(acked.trades) + len(acked.purchases) - len(lost)}/"
            f"{len(acked.trades) + len(acked.purchases)} records, {len(stale)} stale, "
            f"{unacknowledged} committed but unacknowledged, {len(half_applied)} half-applied"
        )
    assert acked.writes > 20, "the load never got going"
    assert lost == []
    assert stale == []
    assert half_applied == []


# --- graceful shutdown ------------------------------------------------------------------------


def year_of_outputs() -> bytes:
    start = datetime(2025, 1, 1)
    entries = [
        {
            "datetime": f"{start + timedelta(minutes=15 * q):%Y-%m-%d %H:%M}",
            "purchase_percentage": 0.5,
            "sale_percentage": 0.25,
        }
        for q in range(365 * 96)
    ]
    market = {name: entries for name in ("MD", "MID1", "MID2", "MID3")}
    return orjson.dumps({"status": "completed", "outputs": [{"idmodel": 1, "value": market}]})


def held_open(body: bytes, started: threading.Event, release: threading.Event) -> Iterator[bytes]:
    """Half of the body now, the rest once the test has sent SIGTERM."""
    half = len(body) // 2
    yield body[:half]
    started.set()
    release.wait(30)
    for start in range(half, len(body), 1 << 20):
        yield body[start : start + (1 << 20)]


def test_sigterm_finishes_requests_in_flight_then_exits_0(
    server_database: str, tmp_path: Path, figures: Figures
) -> None:
    with running_server(server_database, tmp_path) as server:
        trade_token = mint(server_database, "TEN123", "USR456", "trades")
        customer_token = mint(server_database, "CUST1", "alice", "strategies")
        trade_headers = {
            "Authorization": f"Bearer {trade_token}",
            "tenantId": "TEN123",
            "userId": "USR456",
            "countryCode": "US",
            "Content-Type": "application/json",
        }
        customer = {"Authorization": f"Bearer {customer_token}", "Content-Type": "application/json"}
        purchase_id = httpx.post(
            f"{server.url}/api/v0/user/alice/submit-purchase?retailer_id=123",
            headers=customer,
            json={"purchase": ROWS},
        ).json()["id"]
        trade_ids = [
            httpx.post(
                f"{server.url}/api/v1/trades",
                headers=trade_headers,
                json={
                    "productId": "p",
                    "quantity": 1,
                    "indicativeUnitPrice": 1,
                    "productUnitType": "Units",
                },
            ).json()["tradeId"]
            for _ in range(8)
        ]
        year = year_of_outputs()
        release = threading.Event()
        results: dict[str, int] = {}
        requests: list[tuple[str, str, dict[str, str], bytes]] = [
            ("PUT", f"/api/v0/user/alice/purchase/{purchase_id}/update", customer, year),
            *(
                ("PATCH", f"/api/v1/trades/{t}", trade_headers, b'{"quantity": 7}')
                for t in trade_ids
            ),
        ]
        started = [threading.Event() for _ in requests]

        def send(index: int, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
            try:
                response = httpx.request(
                    method,
                    server.url + path,
                    headers=headers,
                    content=held_open(body, started[index], release),
                    timeout=60,
                )
                results[path] = response.status_code
            except httpx.TransportError as exc:
                results[path] = -1
                raise AssertionError(f"{path}: {exc!r}") from exc

        threads = [
            threading.Thread(target=send, args=(i, *request)) for i, request in enumerate(requests)
        ]
        for thread in threads:
            thread.start()
        for event in started:
            assert event.wait(30)
        # Half a body sent is not yet a request the server has begun: give its event loop
        # (slow on a loaded machine) time to parse every request's head, or uvicorn rightly
        # closes a connection it has not started reading at shutdown.
        time.sleep(1.5)
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the signal is handled while every request is still half sent
        release.set()
        for thread in threads:
            thread.join(60)
        code = server.process.wait(60)
        seconds = time.monotonic() - began
        log = server.log.read_text()

    with figures():
        kind = server_database.split(":")[0].split("+")[0]
        print(
            f"\ngraceful [{kind}] SIGTERM with {len(requests)} requests in flight "
            f"(one a year of outputs, {len(year) / 1e6:.0f} MB): statuses "
            f"{sorted(results.values())}, exit {code} after {seconds:.1f} s"
        )
    assert sorted(results.values()) == [200] * len(requests)
    assert code == 0
    assert "Application shutdown complete" in log


@pytest.mark.postgres
def test_sigkill_during_a_keyed_create_leaves_the_key_retryable(
    pg_database: str, tmp_path: Path, figures: Figures
) -> None:
    """Issue 26, medium 5: a server killed in the middle of a create with an
    ``Idempotency-Key`` left the key answering 409 for 24 hours without ``Retry-After``,
    even when the trade was committed: the client could neither retry nor learn its id.

    The kill is placed deterministically: the create is held (its trade insert waits for a
    table lock the test holds) until its claim is committed, then the claim row is locked
    too, and the server is killed while it waits to store its response. A retry on a new
    server gets 409 with ``Retry-After`` for at most the lease (10 s here), then exactly
    one trade exists and the retry's 201 names it."""
    import psycopg

    truncate_all(pg_database)
    token = mint(pg_database, "TEN123", "USR456", "trades")
    headers = {
        "Authorization": f"Bearer {token}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
        "Idempotency-Key": "killed-create-1",
    }
    body = {"productId": "p1", "quantity": 10, "indicativeUnitPrice": 5, "productUnitType": "Units"}
    libpq = pg_database.replace("postgresql+psycopg://", "postgresql://")
    lease = {"TRADEPOST_IDEMPOTENCY_LEASE_SECONDS": "10"}

    def poll(query: str, *params: Any) -> None:
        deadline = time.monotonic() + 30
        with psycopg.connect(libpq, autocommit=True) as watcher:
            while watcher.execute(query, params).fetchone()[0] == 0:  # type: ignore[index]
                activity = watcher.execute(
                    "SELECT state, wait_event_type, left(query, 80) FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                ).fetchall()
                assert time.monotonic() < deadline, (query, activity)
                time.sleep(0.05)

    with (
        psycopg.connect(libpq) as table_lock,
        psycopg.connect(libpq) as row_lock,
        running_server(pg_database, tmp_path, env=lease) as server,
    ):
        table_lock.execute("LOCK TABLE trades IN EXCLUSIVE MODE")
        answered: list[Any] = []

        def send() -> None:
            try:
                answered.append(
                    httpx.post(
                        f"{server.url}/api/v1/trades", json=body, headers=headers, timeout=60
                    )
                )
            except httpx.TransportError as exc:
                answered.append(exc)

        first = threading.Thread(target=send)
        first.start()
        poll("SELECT count(*) FROM idempotency_keys WHERE key = %s", "killed-create-1")
        row_lock.execute(
            "SELECT pk FROM idempotency_keys WHERE key = %s FOR UPDATE", ("killed-create-1",)
        )
        table_lock.commit()  # the create goes on, up to storing its response
        poll(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE 'UPDATE idempotency_keys%%'"
        )
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        row_lock.rollback()
        first.join(30)
    assert isinstance(answered[0], httpx.TransportError)  # the client got no answer

    retry_afters: list[str | None] = []
    with running_server(pg_database, tmp_path, env=lease) as restarted:
        deadline = time.monotonic() + 30
        while True:
            retry = httpx.post(f"{restarted.url}/api/v1/trades", json=body, headers=headers)
            if retry.status_code != 409:
                break
            assert retry.json()["code"] == "idempotency_key_in_use"
            retry_afters.append(retry.headers.get("retry-after"))
            assert time.monotonic() < deadline, "the key stayed in flight"
            time.sleep(0.2)
    db = Database(create_db_engine(Settings(database_url=pg_database)))
    with db.read() as session:
        stored = session.exec(select(Trade)).all()
    db.dispose()
    assert retry.status_code == 201
    assert [trade.id for trade in stored] == [retry.json()["tradeId"]]
    assert all(value == "1" for value in retry_afters)
    with figures():
        print(
            f"\nSIGKILL during a keyed create [postgresql]: {len(retry_afters)} x 409 with "
            f"Retry-After before the 10 s lease ran out, then 201; {len(stored)} trade stored"
        )
