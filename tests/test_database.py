"""``Database.run_read``/``run_write`` on PostgreSQL: a pooled connection the server
closed is replaced without the caller noticing, and a transaction that had begun is
never run twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from tradepost.db import Database, create_db_engine, normalize_url
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
        with pytest.raises(DBAPIError):
            await db.run_write(write_then_lose_the_connection)

    run(db, scenario)
    assert len(calls) == 1
