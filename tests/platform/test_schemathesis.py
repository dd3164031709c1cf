"""Schemathesis against the app in-process, over every operation, with every check, each
generated case sent to the app on SQLite and to the app on PostgreSQL.

Generating the cases is most of the work (Hypothesis, not the app), and without the
stateful phase the cases do not depend on the answers: one generation serves both
backends, each answer checked on its own. Credentials are real tokens, each operation's of
its own surface's kind (a surface refuses the others' credentials), the same token valid in
both databases. Two tests (the trade API; the other surfaces), so that two workers share
the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from sqlmodel import select

from models.common.tokens import OFFSETS, STRATEGIES, TRADES, ApiToken, mint_token
from tests.conftest import app_settings, truncate_all
from tradepost.app import SPEC_PATH, create_app
from tradepost.db import Database, create_db_engine
from tradepost.surfaces import surface_for

TENANT, USER = "TEN123", "USR456"
TENANCY = {"tenantId": TENANT, "userId": USER}


def postgres_url(request: pytest.FixtureRequest) -> str | None:
    """The worker's PostgreSQL database, emptied; None where PostgreSQL is not reachable
    and not required (``pg_database`` fails the run when it is required)."""
    try:
        url: str = request.getfixturevalue("pg_database")
    except pytest.skip.Exception:
        return None
    truncate_all(url)
    return url


def mint_everywhere(urls: list[str]) -> dict[str, str]:
    """One token per surface, minted in the first database and copied to the others."""
    first, *others = [Database(create_db_engine(app_settings(url))) for url in urls]
    tokens, rows = {}, []
    with first.write() as session:
        for surface, kind, user in ((TRADES, TRADES, USER), (STRATEGIES, STRATEGIES, USER)):
            tokens[surface], _ = mint_token(session, kind=kind, tenant_id=TENANT, user_id=user)
        tokens[OFFSETS], _ = mint_token(session, kind=OFFSETS, tenant_id=TENANT)
    with first.read() as session:
        rows = [row.model_dump(exclude={"id"}) for row in session.exec(select(ApiToken))]
    for db in others:
        with db.write() as session:
            session.add_all(ApiToken(**row) for row in rows)
    for db in (first, *others):
        db.dispose()
    return tokens


@pytest.fixture
def databases(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> dict[str, str]:
    """Each backend's database URL, by name."""
    shutil.copy(sqlite_template, tmp_path / "fuzz.db")
    urls = {"sqlite": f"sqlite:///{tmp_path / 'fuzz.db'}"}
    if (url := postgres_url(request)) is not None:
        urls["postgresql"] = url
    return urls


@pytest.fixture
def tokens(databases: dict[str, str]) -> dict[str, str]:
    return mint_everywhere(list(databases.values()))


@pytest.fixture
def apps(databases: dict[str, str]) -> dict[str, Any]:
    """The app on each backend, by name."""
    return {name: create_app(app_settings(url)) for name, url in databases.items()}


@pytest.fixture
def api_schema(tokens: dict[str, str], apps: dict[str, Any]) -> Any:
    """Each operation gets its surface's credential (a trade API token, the customer's
    login token, a carbon-offset API key) through a custom auth, which the auth checks
    treat as explicit credentials: they still drop and spoil it."""
    loaded = schemathesis.openapi.from_path(SPEC_PATH)

    @loaded.auth(refresh_interval=None)
    class SurfaceToken:
        def get(self, case: Any, ctx: Any) -> str | None:
            return tokens.get(surface_for(case.operation.path).name)  # service paths: none

        def set(self, case: Any, data: str | None, ctx: Any) -> None:
            if data is not None:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    loaded.app = apps["sqlite"]
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")
TRADE_API = "^/api/v1/"


def call_and_validate_on_each_backend(case: Any, apps: dict[str, Any]) -> None:
    """As the README's fuzzing command: on valid cases, the token's own tenancy headers. A
    negative case keeps what was generated, so the negative checks judge what was sent."""
    headers = {}
    if case.meta is not None and case.meta.generation.mode.is_positive and case.headers:
        headers = {name: value for name, value in TENANCY.items() if name in case.headers}
    for backend, app in apps.items():
        try:
            case.call_and_validate(headers=headers, app=app)
        except BaseException as failure:
            failure.add_note(f"backend: {backend}")
            raise


@schema.include(path_regex=TRADE_API).parametrize()
def test_every_trade_api_operation_keeps_the_contract(case: Any, apps: dict[str, Any]) -> None:
    call_and_validate_on_each_backend(case, apps)


@schema.exclude(path_regex=TRADE_API).parametrize()
def test_every_other_operation_keeps_the_contract(case: Any, apps: dict[str, Any]) -> None:
    """The Strategies and carbon-offset surfaces and the service's own endpoints."""
    call_and_validate_on_each_backend(case, apps)
