"""``Database.run_read``/``run_write`` on PostgreSQL: a pooled connection the server
closed is replaced without the caller noticing, a transaction that had begun is never
run twice, and the URL's libpq options reach the serving driver (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from tradepost.db import Database, create_db_engine, normalize_url
from tradepost.errors import ServiceUnavailable
from tradepost.settings import Settings

pytestmark = pytest.mark.postgres


def backend_pid(session: Session) -> int:
    pid: int = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def terminate(url: str, pids: list[int]) -> None:
    """Close server connections from outside, as a restart or an idle timeout would."""
    engine = create_engine(normalize_url(url))
    with engine.begin() as connection:
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    engine.dispose()


def run(db: Database, scenario: Callable[[], Any]) -> Any:
    async def with_database() -> Any:
        try:
            return await scenario()
        finally:
            await db.aclose()

    return asyncio.run(with_database())


def test_a_connection_closed_by_the_server_is_replaced(pg_database: str) -> None:
    db = Database(create_db_engine(Settings(database_url=pg_database, pool_size=1)))

    async def scenario() -> tuple[int, int]:
        first = await db.run_read(backend_pid)
        terminate(pg_database, [first])
        return first, await db.run_write(backend_pid)

    first, second = run(db, scenario)
    assert second != first  # answered on a fresh connection


def test_a_transaction_that_began_is_not_run_again(pg_database: str) -> None:
    db = Database(create_db_engine(Settings(database_url=pg_database, pool_size=1)))
    calls = []

    def write_then_lose_the_connection(session: Session) -> None:
        calls.append(backend_pid(session))
        terminate(pg_database, calls[-1:])
        session.execute(text("SELECT 1"))

    async def scenario() -> None:
        with pytest.raises(ServiceUnavailable) as lost:  # 503 with Retry-After
            await db.run_write(write_then_lose_the_connection)
        assert isinstance(lost.value.__cause__, DBAPIError)

    run(db, scenario)
    assert len(calls) == 1


def with_options(url: str, **options: str) -> str:
    return make_url(url).update_query_dict(options).render_as_string(hide_password=False)


def test_libpq_options_in_the_url_apply_to_both_drivers(pg_database: str) -> None:
    """``application_name`` and ``connect_timeout`` as psycopg takes them; asyncpg
    refused the URL's query as keyword arguments (every request a 500)."""
    url = with_options(pg_database, application_name="tp-options", connect_timeout="3")
    db = Database(create_db_engine(Settings(database_url=url)))

    def name(session: Session) -> str:
        found: str = session.execute(
            text("SELECT current_setting('application_name')")
        ).scalar_one()
        return found

    async def scenario() -> str:
        return await db.run_write(name)

    with db.read() as session:
        assert name(session) == "tp-options"  # the CLI's driver, psycopg
    assert run(db, scenario) == "tp-options"  # the serving driver, asyncpg


def test_sslmode_in_the_url_is_honoured_by_the_serving_driver(pg_database: str) -> None:
    """``sslmode=require`` must not be dropped on the way to asyncpg: against a server
    without TLS (as the test server is) the connection is refused, not made in the clear."""
    engine = create_engine(normalize_url(pg_database))
    with engine.connect() as connection:
        tls = connection.execute(text("SHOW ssl")).scalar_one()
    engine.dispose()
    if tls == "on":
        pytest.skip("the test server accepts TLS, so sslmode=require cannot be refused")
    db = Database(
        create_db_engine(Settings(database_url=with_options(pg_database, sslmode="require")))
    )

    async def scenario() -> None:
        with pytest.raises(ServiceUnavailable) as refused:  # 503 with Retry-After
            await db.run_read(backend_pid)
        assert isinstance(refused.value.__cause__, OperationalError)

    run(db, scenario)
