"""Per-token rate limits: the request after the limit is 429 with Retry-After, per surface.

On both backends in-process, and across two server processes on one PostgreSQL database
(the counters live in the database, so the limit is the service's, not a process's).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from models.common.rate_limits import RateLimitWindow
from models.common.tokens import mint_token
from tests.conftest import truncate_all
from tests.contract import assert_error_format, operations, resolve
from tests.servers import running_server
from tests.world import PASSWORD, build_world, trade_headers
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings
from tradepost.surfaces import STRATEGIES, TRADES

LIMIT = 5


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    limit = getattr(request, "param", LIMIT)
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        validate_responses=True,
        rate_limit_per_minute=limit,
    )


def clear_of_the_minute_boundary(margin: float = 4) -> None:
    """Fixed windows restart each minute: keep one test's requests inside one window."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.1)


def assert_rate_limited(response: Any, surface: Any) -> None:
    body = assert_error_format(response, surface, 429)
    assert 1 <= int(response.headers["retry-after"]) <= 60
    if surface is TRADES:
        assert body["code"] == "rate_limited"


def test_the_request_after_the_limit_is_429_on_each_surface(client: Any, db: Database) -> None:
    world = build_world(db)
    trades = trade_headers(world, "TENA/alice", "TENA", "alice")
    customer = {"Authorization": f"Bearer {world.tokens['CUSTA/alice']}"}
    purchase = f"/api/v0/user/alice/purchase/{world.purchase_id}/get"
    clear_of_the_minute_boundary()
    for _ in range(LIMIT):
        assert client.get("/api/v1/trades", headers=trades).status_code == 200
        assert client.get(purchase, headers=customer).status_code == 200
    assert_rate_limited(client.get("/api/v1/trades", headers=trades), TRADES)
    assert_rate_limited(client.get(purchase, headers=customer), STRATEGIES)
    refused_write = client.patch(
        f"/api/v1/trades/{world.trade_id}", json={"quantity": 9}, headers=trades
    )
    assert_rate_limited(refused_write, TRADES)
    colleague = trade_headers(world, "TENA/amy", "TENA", "amy")
    assert client.get("/api/v1/trades", headers=colleague).status_code == 200  # its own budget
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(RateLimitWindow)).scalar() == 3


def test_login_attempts_are_limited_per_email(client: Any, db: Database) -> None:
    build_world(db)
    clear_of_the_minute_boundary()
    for _ in range(LIMIT):
        wrong = client.post(
            "/api/v0/auth/login/", json={"email": "alice@example.com", "password": "guess"}
        )
        assert wrong.status_code == 401
    right = client.post(
        "/api/v0/auth/login/", json={"email": "Alice@Example.com", "password": PASSWORD}
    )
    assert_rate_limited(right, STRATEGIES)
    with db.read() as session:
        buckets = session.execute(select(RateLimitWindow.bucket)).scalars().all()
    assert all("alice" not in bucket for bucket in buckets)


@pytest.mark.parametrize("settings", [0], indirect=True)
def test_off_by_default_and_then_nothing_is_counted(client: Any, db: Database) -> None:
    assert Settings().rate_limit_per_minute == 0
    world = build_world(db)
    trades = trade_headers(world, "TENA/alice", "TENA", "alice")
    for _ in range(3 * LIMIT):
        assert client.get("/api/v1/trades", headers=trades).status_code == 200
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(RateLimitWindow)).scalar() == 0


def test_every_operation_that_can_be_limited_declares_429_with_retry_after() -> None:
    for op in operations():
        limited = op.secured or op.operation_id == "strategiesLogin"
        assert ("429" in op.definition["responses"]) == limited, op.operation_id
        if limited:
            response = resolve(op.definition["responses"]["429"])
            assert "Retry-After" in response["headers"], op.operation_id


@pytest.fixture
def pg_url(pg_database: str) -> str:
    truncate_all(pg_database)
    return pg_database


@pytest.mark.slow
@pytest.mark.postgres
def test_the_limit_holds_across_server_processes(pg_url: str, tmp_path: Path) -> None:
    db = Database(create_db_engine(Settings(database_url=pg_url)))
    with db.write() as session:
        token, _ = mint_token(session, kind="trades", tenant_id="TEN123", user_id="USR456")
    db.dispose()
    headers = {"Authorization": f"Bearer {token}", "tenantId": "TEN123", "userId": "USR456"}
    env = {"TRADEPOST_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    with (
        running_server(pg_url, tmp_path, env=env) as first,
        running_server(pg_url, tmp_path, env=env) as second,
    ):
        clear_of_the_minute_boundary()
        statuses = [
            httpx.get(f"{server.url}/api/v1/trades", headers=headers).status_code
            for server in [first, second] * 4
        ]
        assert statuses == [200] * LIMIT + [429] * (2 * 4 - LIMIT)
        last = httpx.get(f"{second.url}/api/v1/trades", headers=headers)
        assert_rate_limited(last, TRADES)
