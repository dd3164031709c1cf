"""Rate limits: the request after a limit is 429 with Retry-After, in the surface's format.

Per credential on every surface; per client address for invalid tokens and for logins;
per (email, address) for wrong passwords, so that a guesser locks out only itself (issue
26, Medium 10: before, 12 wrong attempts locked the real customer out, spraying emails or
tokens was not limited, and one row was kept per email tried). On both backends
in-process (each client address its own app, as two processes are), and across two
server processes on one PostgreSQL database (the counters live in the database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from tradepost.app import create_app
from tradepost.db import Database, create_db_engine
from tradepost.http.ratelimit import Limits, RateLimiter
from tradepost.settings import Settings
from tradepost.surfaces import STRATEGIES, TRADES

LIMIT = 5  # requests per credential
AUTH_FAILURES = 4  # invalid tokens per address
LOGINS = 8  # login attempts per address
LOGIN_FAILURES = 3  # wrong passwords per (email, address)
ATTACKER, CUSTOMER = ("198.51.100.7", 40000), ("203.0.113.9", 40000)


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    limit = getattr(request, "param", LIMIT)
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        validate_responses=True,
        rate_limit_per_minute=limit,
        rate_limit_auth_failures_per_minute=limit and AUTH_FAILURES,
        login_attempts_per_minute=limit and LOGINS,
        login_failures_per_minute=limit and LOGIN_FAILURES,
        webhooks_worker=False,
        freeze_heap=False,
    )


@contextmanager
def from_address(settings: Settings, address: tuple[str, int]) -> Iterator[Any]:
    """A client whose requests come from ``address`` (its own app: another process)."""
    with create_app(settings).test_client(client=address) as client:
        yield client


def login(client: Any, email: str, password: str) -> Any:
    return client.post("/api/v0/auth/login/", json={"email": email, "password": password})


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


def test_wrong_passwords_lock_out_only_the_address_that_guesses(
    settings: Settings, db: Database
) -> None:
    build_world(db)
    clear_of_the_minute_boundary()
    with from_address(settings, ATTACKER) as attacker, from_address(settings, CUSTOMER) as owner:
        for _ in range(LOGIN_FAILURES):
            assert login(attacker, "alice@example.com", "guess").status_code == 401
        assert_rate_limited(login(attacker, "alice@example.com", "guess"), STRATEGIES)
        assert_rate_limited(login(attacker, "Alice@Example.com", PASSWORD), STRATEGIES)
        right = login(owner, "alice@example.com", PASSWORD)  # the customer, elsewhere
        assert right.status_code == 200, right.text
    with db.read() as session:
        buckets = session.execute(select(RateLimitWindow.bucket)).scalars().all()
    assert all("alice" not in b and "198.51" not in b for b in buckets)


def test_spraying_emails_is_limited_per_address(settings: Settings, db: Database) -> None:
    build_world(db)
    clear_of_the_minute_boundary()
    with from_address(settings, ATTACKER) as attacker, from_address(settings, CUSTOMER) as owner:
        for n in range(LOGINS):
            assert login(attacker, f"user{n}@example.com", "guess").status_code == 401
        assert_rate_limited(login(attacker, "someone.else@example.com", "guess"), STRATEGIES)
        assert login(owner, "alice@example.com", PASSWORD).status_code == 200


def test_spraying_invalid_tokens_is_limited_per_address(settings: Settings, db: Database) -> None:
    world = build_world(db)
    valid = trade_headers(world, "TENA/alice", "TENA", "alice")
    clear_of_the_minute_boundary()
    with from_address(settings, ATTACKER) as attacker, from_address(settings, CUSTOMER) as owner:
        for n in range(AUTH_FAILURES):
            sprayed = {**valid, "Authorization": f"Bearer tp_guess{n}"}
            assert attacker.get("/api/v1/trades", headers=sprayed).status_code == 401
        other_surface = {"Authorization": f"Bearer {world.tokens['CLIENTA']}"}  # counts too
        assert_rate_limited(attacker.get("/api/v1/trades", headers=other_surface), TRADES)
        assert_rate_limited(attacker.get("/api/v1/trades", headers=valid), TRADES)  # blocked
        assert owner.get("/api/v1/trades", headers=valid).status_code == 200


def test_rows_of_past_windows_are_purged(db: Database) -> None:
    """However many emails and addresses are tried, the table keeps the last window's."""
    now = [1_000_000.0]
    limiter = RateLimiter(db, Limits(login_failures=LOGIN_FAILURES), clock=lambda: now[0])

    async def spray() -> tuple[int, int]:
        for n in range(40):
            await limiter.check_login(f"user{n}@example.com", f"192.0.2.{n}")
            await limiter.login_failed(f"user{n}@example.com", f"192.0.2.{n}")
        sprayed = await db.run_read(count_rows)
        now[0] += 2 * 60  # two minutes later, one more attempt
        await limiter.check_login("late@example.com", "192.0.2.200")
        left = await db.run_read(count_rows)
        await db.aclose()  # this loop's connections, closed on it
        return sprayed, left

    sprayed, left = asyncio.run(spray())
    assert sprayed >= 40
    assert left <= 1


def count_rows(session: Any) -> int:
    return int(session.execute(select(func.count()).select_from(RateLimitWindow)).scalar())


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
