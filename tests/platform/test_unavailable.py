"""Issue 26, medium 6: a database that is unreachable or read-only answers 503 with
``Retry-After`` in each surface's own error format (not a generic 500), and ``/readyz``
reports a read-only database as not ready (it checks that a write would be accepted).

Read-only is made the way operators meet it: on PostgreSQL
``ALTER DATABASE ... SET default_transaction_read_only = on``; on SQLite the file opened
read-only (``mode=ro``, as file permissions do for a non-root user: the tests run as
root, for whom permissions do not apply). Unreachable: a PostgreSQL port nobody listens
on, a SQLite file in a directory that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from tests.conftest import TokenFactory
from tests.factories import add_retailer, make_offset_purchase, make_quote, make_trade
from tradepost.app import create_app
from tradepost.db import Database
from tradepost.settings import Settings

NEW_TRADE = {
    "productId": "p1",
    "quantity": 10,
    "indicativeUnitPrice": 5,
    "productUnitType": "Units",
}
SUBMISSION = {"purchase": [{"datetime": "2025-01-15 00:00", "purchase": 12.5}]}


@pytest.fixture
def read_only_settings(settings: Settings, db: Database) -> Iterator[Settings]:
    """Settings for an app that finds its database read-only."""
    if db.is_postgresql:
        name = make_url(settings.database_url).database
        with db.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            )
        try:
            yield settings
        finally:
            with db.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.execute(
                    text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
                )
    else:
        path = make_url(settings.database_url).database
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
        yield settings.model_copy(update={"database_url": url})


@pytest.fixture
def read_only_client(read_only_settings: Settings) -> Iterator[Any]:
    with create_app(read_only_settings).test_client() as client:
        yield client


def assert_503(response: Any, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"


def test_a_read_only_database_refuses_writes_with_503_on_every_surface(
    db: Database, make_token: TokenFactory, read_only_settings: Settings
) -> None:
    trade_token = make_token("TEN123", "USR456")
    customer_token = make_token("CUST1", "example_user", kind="strategies")
    offsets_token = make_token("CLIENT1")
    add_retailer(db)
    trade = make_trade(db)
    quote = make_quote(db)
    purchase = make_offset_purchase(db)
    trade_headers = {
        "Authorization": f"Bearer {trade_token}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }
    with create_app(read_only_settings).test_client() as client:
        # reads still work
        assert client.get(f"/api/v1/trades/{trade.id}", headers=trade_headers).status_code == 200
        # writes: 503 + Retry-After, in the surface's own format
        created = client.post("/api/v1/trades", json=NEW_TRADE, headers=trade_headers)
        assert_503(created, "database_read_only")
        assert created.json()["code"] == "database_read_only"
        assert created.json()["requestId"] == created.headers["x-request-id"]
        patched = client.patch(
            f"/api/v1/trades/{trade.id}", json={"description": "x"}, headers=trade_headers
        )
        assert_503(patched, "database_read_only")
        submitted = client.post(
            "/api/v0/user/example_user/submit-purchase?retailer_id=123",
            json=SUBMISSION,
            headers={"Authorization": f"Bearer {customer_token}"},
        )
        assert_503(submitted, "database_read_only")
        assert "read-only" in submitted.json()["error"]
        offsets = {"Authorization": f"Bearer {offsets_token}"}
        bought = client.post("/v2/purchases", json={"pricing": quote.id}, headers=offsets)
        assert_503(bought, "database_read_only")
        assert bought.json()[0]["code"] == "database_read_only"
        merged = client.patch(
            f"/v2/purchases/{purchase.id}", json={"metadata": {"a": "b"}}, headers=offsets
        )
        assert_503(merged, "database_read_only")
        assert "squake-request-id" in merged.headers
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "read-only"
        assert ready.headers["retry-after"] == "5"
    assert make_trade(db).version == 1  # writable again once the setting is gone


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_an_unreachable_database_answers_503_not_500(backend: str, tmp_path: Path) -> None:
    url = (
        "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2"
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'missing-directory' / 'tradepost.db'}"
    )
    settings = Settings(database_url=url, auto_migrate=False, webhooks_worker=False)
    headers = {"Authorization": "Bearer tp_whatever", "tenantId": "TEN123", "userId": "USR456"}
    with create_app(settings).test_client() as client:
        assert client.get("/readyz").status_code == 503
        listed = client.get("/api/v1/trades", headers=headers)
        assert_503(listed, "database_unavailable")
        assert listed.json()["code"] == "database_unavailable"
        strategies = client.get("/api/v0/strategies/example_user?idretailer=123", headers=headers)
        assert_503(strategies, "database_unavailable")
        assert strategies.json() == {"error": "The database is unavailable. Retry later."}
        login = client.post(
            "/api/v0/auth/login/", json={"email": "a@example.com", "password": "a long password"}
        )
        assert_503(login, "database_unavailable")
        offsets = client.get("/v2/purchases", headers={"Authorization": "Bearer tp_whatever"})
        assert_503(offsets, "database_unavailable")
        assert offsets.json()[0]["code"] == "database_unavailable"
        assert client.get("/healthz").status_code == 200
