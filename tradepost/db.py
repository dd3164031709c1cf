"""Engines, the one session factory, and database work off the event loop.

Domain functions are plain synchronous functions taking a ``Session`` first
(``models/``). Request code never calls them on the event loop: it awaits
``Database.run_read(work, ...)`` or ``Database.run_write(work, ...)``, which run ``work``
in one transaction on a database thread and hand back its result, so the loop serves
other requests while a round trip or a commit waits (bench/NOTES.md, issue 17).

- PostgreSQL: a pool of threads as large as the connection pool, so up to that many
  transactions wait on the server at once and their commits group. There is no
  pre-ping per checkout: a connection found dead by the first statement of a
  transaction is dropped and the transaction run again on a fresh one (nothing of it
  reached the server); a failure later in a transaction is not retried.
- SQLite (one writer at a time): every write runs on one thread with one connection,
  so a process never contends with itself for the write lock; reads run on a few
  threads of their own, in parallel with the writer (WAL). Write transactions start
  with ``BEGIN IMMEDIATE`` so that two processes never both read a row and then race
  to upgrade to a write lock; PostgreSQL uses row locks (``SELECT ... FOR UPDATE``).

The CLI, migrations and tests use the same sessions synchronously (``read``/``write``).
With ``forbid_loop_io`` (tests) a statement executed on a thread that runs an event
loop raises ``BlockingCallOnLoop``: any database call left on the loop fails loudly.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from tradepost.settings import Settings

_WRITE = "tradepost_write"
SQLITE_READ_THREADS = 4

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[Session, P], T]


class BlockingCallOnLoop(RuntimeError):
    """A database statement ran on the event loop's thread (``forbid_loop_io``)."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(settings: Settings) -> Engine:
    url = normalize_url(settings.database_url)
    if settings.is_sqlite:
        return _sqlite_engine(url, settings.sqlite_synchronous)
    return create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        connect_args={"connect_timeout": 5},
    )


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Owns the engine and the database threads; hands out sessions and runs work."""

    def __init__(self, engine: Engine, *, forbid_loop_io: bool = False) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{_WRITE: True})
        self._local = threading.local()  # statements completed in this thread's transaction
        if self.is_postgresql:
            # As many threads as connections (pool_size plus as many overflow ones).
            threads = 2 * engine.pool.size()  # type: ignore[attr-defined]
            self._readers = self._writers = ThreadPoolExecutor(threads, "tradepost-db")
        else:
            self._writers = ThreadPoolExecutor(1, "tradepost-db-write")
            self._readers = ThreadPoolExecutor(SQLITE_READ_THREADS, "tradepost-db-read")
        event.listen(engine, "after_cursor_execute", self._count_statement)
        if forbid_loop_io:
            event.listen(engine, "before_cursor_execute", _refuse_on_loop)

    @property
    def write_engine(self) -> Engine:
        """The engine whose transactions take SQLite's write lock up front."""
        return self._write_engine

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    async def run_read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(session, *args, **kwargs)`` in a read session, on a database thread."""
        return await _off_loop(self._readers, self._transaction, self.read, work, args, kwargs)

    async def run_write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(session, *args, **kwargs)`` in one write transaction, on a database
        thread: committed if it returns, rolled back if it raises."""
        return await _off_loop(self._writers, self._transaction, self.write, work, args, kwargs)

    def _transaction(
        self,
        session_for: Callable[[], Any],
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        try:
            return self._attempt(session_for, work, args, kwargs)
        except DBAPIError as exc:
            # A pooled connection the server closed fails on its first statement; nothing
            # of this transaction reached the server, so it is safe to run it once more.
            if not exc.connection_invalidated or self._local.completed:
                raise
        return self._attempt(session_for, work, args, kwargs)

    def _attempt(
        self,
        session_for: Callable[[], Any],
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        self._local.completed = 0
        with session_for() as session:
            return work(session, *args, **kwargs)

    def _count_statement(self, *_args: Any) -> None:
        self._local.completed = getattr(self._local, "completed", 0) + 1

    def dispose(self) -> None:
        self._writers.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.engine.dispose()


async def _off_loop(executor: ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> T:
    # The request's context variables (Connexion's request, the log context) go along.
    bound = functools.partial(contextvars.copy_context().run, call, *args)
    return await asyncio.get_running_loop().run_in_executor(executor, bound)


def _refuse_on_loop(*_args: Any) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop in this thread: a database thread, the CLI, a test
    raise BlockingCallOnLoop("a database statement ran on the event loop's thread")
