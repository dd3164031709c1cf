"""Engines, the one session factory, and database work that never blocks the event loop.

Domain functions are plain synchronous functions taking a ``Session`` first
(``models/``). Request code never calls them on the event loop's thread directly: it
awaits ``Database.run_read(work, ...)`` or ``Database.run_write(work, ...)``, which run
``work`` in one transaction (a read on PostgreSQL: in autocommit mode, see ``run_read``;
``run_statements``: writes that are each one statement) and hand back its result, while
the loop serves other requests during every round trip and commit (bench/NOTES.md,
issues 17 and 30).

- PostgreSQL: SQLAlchemy's asyncio extension on asyncpg. ``AsyncSession.run_sync``
  runs the same synchronous ``work`` in a greenlet on the loop; each statement's I/O is
  awaited, so no thread, no GIL hand-off and no thread wake-up per round trip. Measured
  (bench/NOTES.md): faster than a pool of threads running sync psycopg, and asyncpg
  faster than psycopg's async mode (less CPU per statement, prepared statements cached
  per connection). The plain engine (CLI, migrations, tests) stays on sync psycopg;
  both drivers map the same column types. The pool holds ``pool_size`` connections and
  never opens one per request (no overflow). There is no pre-ping per checkout: a
  connection found dead by the first statement of a transaction is dropped and the
  transaction run again on a fresh one (nothing of it reached the server); a failure
  later is not retried (tests/platform/test_database.py).
- SQLite (one writer at a time, a driver with no async I/O): every write runs on one
  thread with one connection, so a process never contends with itself for the write
  lock; reads run on a few threads of their own, in parallel with the writer (WAL).
  Write transactions start with ``BEGIN IMMEDIATE`` so that two processes never both
  read a row and then race to upgrade to a write lock; PostgreSQL uses row locks
  (``SELECT ... FOR UPDATE``).

The CLI, migrations and tests use synchronous sessions (``read``/``write``) on the plain
engine. With ``forbid_loop_io`` (tests) a statement of that engine executed on a thread
that runs an event loop raises ``BlockingCallOnLoop``: any blocking database call left on
the loop fails loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlmodel import Session

from tradepost.errors import READ_ONLY, ServiceUnavailable, database_unavailable
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


CONNECT_TIMEOUT_SECONDS = "5"


def create_db_engine(settings: Settings) -> Engine:
    url = normalize_url(settings.database_url)
    if settings.is_sqlite:
        return _sqlite_engine(url, settings.sqlite_synchronous)
    # The timeout lives in the URL, where both drivers read it (the URL's own wins).
    parsed = make_url(url)
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return create_engine(parsed, **_postgres_pool(settings.pool_size))


def _postgres_pool(size: int) -> dict[str, Any]:
    # No overflow: a connection opened per request and closed after it costs PostgreSQL a
    # new backend process, more CPU than the transaction it serves.
    return {"pool_size": size, "max_overflow": 0}


def _asyncpg_engine(url: URL, size: int) -> AsyncEngine:
    """The serving engine on asyncpg, for the same database as the psycopg ``url``.

    asyncpg reads libpq's URL options (``sslmode``, ``sslrootcert``,
    ``target_session_attrs``, ...; any other, such as ``application_name``, is sent as a
    server setting) from a connection string, not as the keyword arguments SQLAlchemy
    would make of the URL's query, so connections are made from the URL as written.
    The URL's ``connect_timeout`` (seconds) becomes asyncpg's timeout.
    """
    query = dict(url.query)
    timeout = float(str(query.pop("connect_timeout", CONNECT_TIMEOUT_SECONDS)))
    dsn = url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)

    async def connect() -> Any:
        return await asyncpg.connect(dsn, timeout=timeout)

    return create_async_engine(
        url.set(drivername="postgresql+asyncpg", query={}),
        async_creator=connect,
        **_postgres_pool(size),
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
    """Owns the engines and the database threads; hands out sessions and runs work."""

    def __init__(self, engine: Engine, *, forbid_loop_io: bool = False) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{_WRITE: True})
        self._async_engine: AsyncEngine | None = None
        event.listen(engine, "after_cursor_execute", _count_statement)
        if forbid_loop_io:
            event.listen(engine, "before_cursor_execute", _refuse_on_loop)
        if self.is_postgresql:
            size = engine.pool.size()  # type: ignore[attr-defined]
            self._async_engine = _asyncpg_engine(engine.url, size)
            self._autocommit_engine = self._async_engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
            event.listen(self._async_engine.sync_engine, "after_cursor_execute", _count_statement)
        else:
            self._writers = ThreadPoolExecutor(1, "tradepost-db-write")
            self._readers = ThreadPoolExecutor(SQLITE_READ_THREADS, "tradepost-db-read")

    @property
    def write_engine(self) -> Engine:
        """The engine whose transactions take SQLite's write lock up front."""
        return self._write_engine

    @property
    def serving_engine(self) -> Engine:
        """The engine whose pool ``run_read``/``run_write`` use (for pool metrics)."""
        return self._async_engine.sync_engine if self._async_engine else self.engine

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
        """``work(session, *args, **kwargs)`` in a read session, off the loop's thread
        or on non-blocking I/O. A database that is unreachable raises ``ServiceUnavailable``
        (503 with ``Retry-After``), as does a read-only one for ``run_write``.

        On PostgreSQL a read runs in autocommit mode: no BEGIN and no ROLLBACK round trip
        around its statements (a one-statement read, such as a token lookup, is one round
        trip instead of three). It sees what it saw in a transaction: at READ COMMITTED,
        PostgreSQL's default, every statement of a transaction takes a snapshot of its own
        anyway. ``work`` must not write (it would commit) nor lock rows."""
        with _unavailable_as_503():
            if self._async_engine is not None:
                return await self._on_loop(False, work, args, kwargs)
            return await _off_loop(self._readers, self._transaction, self.read, work, args, kwargs)

    async def run_write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(session, *args, **kwargs)`` in one write transaction: committed if it
        returns, rolled back if it raises."""
        with _unavailable_as_503():
            if self._async_engine is not None:
                return await self._on_loop(True, work, args, kwargs)
            return await _off_loop(self._writers, self._transaction, self.write, work, args, kwargs)

    async def run_statements(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work`` whose every write is one statement that stands alone (it checks what
        it relies on, such as a version, in its own WHERE): on PostgreSQL it runs in
        autocommit mode, with no BEGIN and no COMMIT round trip (each statement commits
        itself, durably, as a transaction would); on SQLite it is ``run_write``."""
        if self._async_engine is None:
            return await self.run_write(work, *args, **kwargs)
        with _unavailable_as_503():
            return await self._on_loop(None, work, args, kwargs)

    async def writable(self) -> bool:
        """Whether a write would be accepted now, found cheaply: PostgreSQL says whether
        new transactions are read-only (``default_transaction_read_only``, a hot standby);
        SQLite takes its write lock and makes a write it rolls back (file permissions, a
        read-only mount, ``query_only``). Raises ``ServiceUnavailable`` when unreachable."""
        try:
            if self._async_engine is not None:
                return await self.run_read(_postgres_writable)
            with _unavailable_as_503():
                await _off_loop(self._writers, self._sqlite_write_probe)
        except ServiceUnavailable as exc:
            if exc.error_code == READ_ONLY:
                return False
            raise
        return True

    def _sqlite_write_probe(self) -> None:
        with self._write_engine.connect() as connection:  # BEGIN IMMEDIATE: the write lock
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
            connection.rollback()

    async def _on_loop(
        self,
        write: bool | None,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        try:
            return await self._attempt_on_loop(write, work, args, kwargs)
        except DBAPIError as exc:
            if not _retryable(exc):
                raise
        return await self._attempt_on_loop(write, work, args, kwargs)

    async def _attempt_on_loop(
        self,
        write: bool | None,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        """``write`` True: one transaction; False (a read) or None: autocommit."""
        assert self._async_engine is not None
        _completed.set(0)
        session = AsyncSession(
            self._async_engine if write else self._autocommit_engine,
            expire_on_commit=False,
            sync_session_class=Session,
        )
        try:
            async with session, session.begin() if write else contextlib.nullcontext():
                return await session.run_sync(work, *args, **kwargs)
        except (OSError, TimeoutError) as exc:
            # asyncpg's connect raises these bare (refused, unreachable, timed out); the
            # sync driver's arrive as OperationalError, and so do these (not retried).
            raise OperationalError("connect", None, exc) from exc

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
            if not _retryable(exc):
                raise
        return self._attempt(session_for, work, args, kwargs)

    def _attempt(
        self,
        session_for: Callable[[], Any],
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        _completed.set(0)
        with session_for() as session:
            return work(session, *args, **kwargs)

    async def aclose(self) -> None:
        """Close the pools from the loop that used them (the app's lifespan)."""
        if self._async_engine is not None:
            await self._async_engine.dispose()
        await asyncio.to_thread(self.dispose)

    def dispose(self) -> None:
        if self._async_engine is not None:
            # Outside the loop that opened them, connections are dropped, not closed.
            self._async_engine.sync_engine.dispose(close=False)
        else:
            self._writers.shutdown(wait=True)
            self._readers.shutdown(wait=True)
        self.engine.dispose()


# Statements completed in the current transaction attempt: a context variable, because
# the attempt runs in a copy of the request's context on a database thread (SQLite) or in
# a greenlet that shares the request task's context (PostgreSQL).
_completed: contextvars.ContextVar[int] = contextvars.ContextVar("tradepost_completed", default=0)


def _count_statement(*_args: Any) -> None:
    _completed.set(_completed.get() + 1)


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        raise unavailable from exc


def _postgres_writable(session: Session) -> bool:
    return (
        session.execute(text("SELECT current_setting('transaction_read_only')")).scalar() == "off"
    )


def _retryable(exc: DBAPIError) -> bool:
    """A pooled connection the server closed fails on its first statement; nothing of
    that transaction reached the server, so it is safe to run it once more."""
    return bool(exc.connection_invalidated) and _completed.get() == 0


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
