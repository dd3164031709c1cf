"""Fixtures: a migrated database per backend, the app, a client, tokens and row factories.

Every test that uses ``db`` or ``client`` runs on SQLite and on PostgreSQL. PostgreSQL is
used when reachable at ``TRADEPOST_TEST_POSTGRES_URL`` (default: the local server on
127.0.0.1:5432); with ``TRADEPOST_REQUIRE_POSTGRES=1`` (set by CI) an unreachable server
fails the run instead of skipping those tests.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import models
from models.common.tokens import OFFSETS, TRADES, mint_token
from tests import gc_tuning
from tests.round_trips import one_connection_client, round_trips  # noqa: F401 (fixtures)
from tradepost.app import create_app
from tradepost.db import Database, create_db_engine
from tradepost.ops import migrate
from tradepost.settings import Settings


def suffixed_database(url: str, suffix: str) -> str:
    """The URL of a database beside ``url``'s: ``tradepost_test`` -> ``tradepost_test_<suffix>``."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


def _per_worker(url: str) -> str:
    """Each pytest-xdist worker gets a database of its own: ``tradepost_test_gw0``, ..."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return url if worker is None else suffixed_database(url, worker)


PG_URL = _per_worker(
    os.environ.get(
        "TRADEPOST_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/tradepost_test",
    )
)
REQUIRE_PG = os.environ.get("TRADEPOST_REQUIRE_POSTGRES") == "1"


def recreate_pg_database(url: str) -> str | None:
    """Drop and create the test database; the reason it failed, if it did."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = target.database
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any connection failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        admin.dispose()
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(Settings(database_url=f"sqlite:///{path}"))
    migrate.upgrade(Database(engine).write_engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> str:
    problem = recreate_pg_database(PG_URL)
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")
    engine = create_db_engine(Settings(database_url=PG_URL))
    migrate.upgrade(engine)
    engine.dispose()
    return PG_URL


@functools.cache
def _admin_engine(url: str) -> Engine:
    """One engine per test database and worker, kept for the session (a new engine and
    connection per test cost more than the TRUNCATE itself)."""
    return create_db_engine(Settings(database_url=url))


def truncate_all(url: str) -> None:
    """Empty every table (and on PostgreSQL restart every sequence): the state of a fresh
    migration, for a database a server process keeps open between tests.

    ``DELETE`` in foreign-key order, not ``TRUNCATE``: on tables this small it takes 6 ms
    against TRUNCATE's 50 ms (which makes new files for every table), once per test.
    SQLite has no sequences here (no table is AUTOINCREMENT): an emptied table numbers
    from 1 again by itself."""
    engine = _admin_engine(url)
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        deletes = [f'DELETE FROM "{table}"' for table in tables]  # noqa: S608 (our own names)
        if engine.dialect.name == "sqlite":  # one statement per execute
            for delete in deletes:
                connection.execute(text(delete))
        else:
            connection.execute(text("; ".join(deletes)))
            sequences = connection.execute(
                text(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename)"
                    " FROM pg_sequences WHERE schemaname = current_schema()"
                )
            ).scalars()
            for sequence in sequences.all():
                connection.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
        connection.execute(
            text("UPDATE alembic_version SET version_num = :head"), {"head": migrate.head()}
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "tradepost.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    truncate_all(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for a server process: a copy of the migrated SQLite template, or the
    emptied PostgreSQL test database. (A server migrating a new SQLite file itself:
    tests/platform/test_migrations.py.)"""
    if request.param == "sqlite":
        path = tmp_path / "server.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    truncate_all(url)
    return url


# The matrices send hundreds of requests and invalid tokens from one address in a minute;
# tests/platform/test_ratelimit.py tests the limits, which are on by default.
NO_RATE_LIMITS: dict[str, Any] = {
    "rate_limit_per_minute": 0,
    "rate_limit_auth_failures_per_minute": 0,
    "login_attempts_per_minute": 0,
    "login_failures_per_minute": 0,
}


def app_settings(database_url: str, **overrides: Any) -> Settings:
    """The settings of an in-process app under test; ``overrides`` for what a test varies.

    In-process apps deliver no webhooks (tests/offsets/test_webhooks.py runs real workers),
    so no thread changes rows behind a test's snapshot, and they do not freeze the heap
    (a full collection per app start: 0.5 s each, hundreds of times per worker)."""
    defaults: dict[str, Any] = {
        "auto_migrate": False,
        "validate_responses": True,
        "forbid_loop_io": True,  # a database call left on the event loop fails the test
        "webhooks_worker": False,
        "freeze_heap": False,
        **NO_RATE_LIMITS,
    }
    return Settings(database_url=database_url, **{**defaults, **overrides})


@pytest.fixture
def settings(database_url: str) -> Settings:
    return app_settings(database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(create_db_engine(settings))
    yield database
    database.dispose()


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    with app.test_client() as test_client:
        yield test_client


TokenFactory = Callable[..., str]


@pytest.fixture
def make_token(db: Database) -> TokenFactory:
    """``make_token("TEN123", "USR456")`` mints a real token in the test database: by
    default a trade API token with a user, a carbon-offset API key without one, as the CLI
    does; ``kind="strategies"`` a customer's token as its login mints it."""

    def make(tenant: str, user: str | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("kind", TRADES if user else OFFSETS)
        with db.write() as session:
            token, _row = mint_token(session, tenant_id=tenant, user_id=user, **kwargs)
        return token

    return make


assert models  # the tables are registered before the TRUNCATE list is built


Figures = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """``with figures(): print(...)``: the figures a test measured (fuzz counts, refusals,
    recoveries), shown together after the run, also under pytest-xdist, whose workers do
    not pass on what a test prints."""

    @contextmanager
    def collect() -> Iterator[None]:
        printed = io.StringIO()
        with redirect_stdout(printed):
            yield
        if text := printed.getvalue().strip():
            request.node.user_properties.append(("figures", text))

    return collect


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reports = [r for kind in ("passed", "failed") for r in terminalreporter.stats.get(kind, [])]
    found = [
        value
        for report in sorted(reports, key=lambda r: r.nodeid)
        if report.when == "call"
        for name, value in report.user_properties
        if name == "figures"
    ]
    if found:
        terminalreporter.section("measured figures")
        for text in found:
            terminalreporter.write_line(text)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than there are cores. The tests wait on servers,
    subprocesses and timers; with one worker per core a quarter of the two cores idled
    (1.73 cores busy on average), with three workers 1.97."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_finish(session: pytest.Session) -> None:
    gc_tuning.tune()  # what collection imported stays; tests allocate a lot (tests/gc_tuning.py)


# The tests that take minutes each (the fuzz runs), and their weight: a live run keeps two
# lanes, each a CLI and a server, busy at once, about twice an in-process run's work.
LONGEST = {
    "test_schemathesis_cli_finds_nothing": 2,
    "test_every_trade_api_operation_keeps_the_contract": 1,
    "test_every_other_operation_keeps_the_contract": 1,
}


def fuzz_weight(item: pytest.Item) -> int:
    return LONGEST.get(getattr(item, "originalname", ""), 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (the fuzz runs, then real server processes, marked
    ``slow``), and under pytest-xdist each worker's first share starting with its part of
    the fuzz runs, so that the workers end together."""

    def rank(item: pytest.Item) -> int:
        if fuzz_weight(item):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        items[:] = spread_over_workers(items, workers)


def share_sizes(count: int, workers: int) -> list[int]:
    """The sizes of the contiguous shares worksteal first hands out, in order."""
    sizes = []
    for share in range(workers):
        sizes.append((count - sum(sizes)) // (workers - share))
    return sizes


def spread_over_workers(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The order that gives each worker an even share of the fuzz runs.

    pytest-xdist's ``worksteal`` hands out the collection in ``workers`` contiguous
    shares (``len(pending) // workers_left`` each) and later steals only from a share's
    end, so whatever starts a share stays with its worker. Unordered, the first share held
    every fuzz run (about 570 s on one worker of three, then a two-minute tail on one
    core); here each share starts with the least loaded worker's pick of them, and the
    other tests are dealt out in turn behind, the real-server ones first."""
    sizes = share_sizes(len(items), workers)
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    load = [0] * workers
    for item in sorted(filter(fuzz_weight, items), key=fuzz_weight, reverse=True):
        lightest = load.index(min(load))
        shares[lightest].append(item)
        load[lightest] += fuzz_weight(item)
    rest = [item for item in items if not fuzz_weight(item)]
    dealt = 0
    while dealt < len(rest) and any(len(s) < n for s, n in zip(shares, sizes, strict=True)):
        for share, size in zip(shares, sizes, strict=True):
            if len(share) < size and dealt < len(rest):
                share.append(rest[dealt])
                dealt += 1
    shares[-1].extend(rest[dealt:])  # only if fuzz runs overfilled a share: a tiny selection
    return [item for share in shares for item in share]
