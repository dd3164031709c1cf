"""Counting round trips to PostgreSQL at the driver (issue 30), for the tests that pin
how many a request makes (tests/{trades,strategies,offsets}/test_round_trips.py).

``round_trips`` counts every statement asyncpg prepares-and-executes, every
transaction it starts, commits or rolls back, and every explicit ``prepare``: each is
one round trip. ``one_connection_client`` serves the app from a one-connection pool, so
the statements cached on that connection are warm after one request. (Both are loaded
into every test by tests/conftest.py.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg

from tradepost.app import create_app
from tradepost.settings import Settings


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counted: Counter[str] = Counter()

    def counting(name: str, method: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return await method(*args, **kwargs)

        return wrapper

    cursor = sa_asyncpg.AsyncAdapt_asyncpg_cursor
    monkeypatch.setattr(
        cursor, "_prepare_and_execute", counting("statement", cursor._prepare_and_execute)
    )
    for name in ("start", "commit", "rollback"):
        method = getattr(asyncpg.transaction.Transaction, name)
        monkeypatch.setattr(asyncpg.transaction.Transaction, name, counting(name, method))
    monkeypatch.setattr(
        asyncpg.Connection, "prepare", counting("prepare", asyncpg.Connection.prepare)
    )
    return counted


@pytest.fixture
def one_connection_client(settings: Settings) -> Iterator[Any]:
    with create_app(settings.model_copy(update={"pool_size": 1})).test_client() as client:
        yield client
