"""The service's own endpoints, request ids, access logs and metrics."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import TokenFactory
from tradepost.app import create_app
from tradepost.db import Database
from tradepost.ops import migrate
from tradepost.settings import Settings


def test_healthz_needs_nothing(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_migrated(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    head = migrate.head()
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "migration": head,
        "expectedMigration": head,
    }


def test_readyz_when_the_schema_is_behind(client: Any, db: Database) -> None:
    with db.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migration"] == "0001"
    assert response.json()["status"] == "unavailable"


def test_readyz_when_the_database_is_unreachable() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/nowhere", auto_migrate=False
    )
    with create_app(settings).test_client() as unreachable:
        response = unreachable.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
        assert unreachable.get("/healthz").status_code == 200


def test_metrics_count_requests_per_operation_and_status(
    client: Any, make_token: TokenFactory
) -> None:
    token = make_token("TEN123", "USR456")
    headers = {"Authorization": f"Bearer {token}", "tenantId": "TEN123", "userId": "USR456"}
    for _ in range(3):
        client.get("/api/v1/trades", headers=headers)
    client.get("/api/v1/trades", headers={**headers, "Authorization": "Bearer wrong"})
    client.get("/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert 'tradepost_requests_total{method="GET",operation="listTrades",status="200"} 3.0' in lines
    assert 'tradepost_requests_total{method="GET",operation="listTrades",status="401"} 1.0' in lines
    assert 'tradepost_requests_total{method="GET",operation="unmatched",status="404"} 1.0' in lines
    assert any(line.startswith("tradepost_request_duration_seconds_bucket") for line in lines)
    assert "tradepost_db_connections_in_use 0.0" in lines


def test_one_access_log_line_per_request_without_secrets(
    client: Any, make_token: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token("TEN123", "USR456")
    caplog.set_level(logging.INFO, logger="tradepost.access")
    response = client.get(
        "/api/v1/trades",
        headers={"Authorization": f"Bearer {token}", "tenantId": "TEN123", "userId": "USR456"},
    )
    (record,) = [r for r in caplog.records if r.name == "tradepost.access"]
    fields = vars(record)
    assert fields["request_id"] == response.headers["x-request-id"]
    assert fields["operation_id"] == "listTrades"
    assert fields["principal"] == "TEN123/USR456"
    assert fields["status"] == 200
    assert fields["duration_ms"] > 0
    assert token not in caplog.text
    assert token[3:] not in caplog.text


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/api/v1/trades", "x-request-id"),
        ("/api/v0/user/u/purchase/00000000-0000-0000-0000-000000000000/get", "x-request-id"),
        ("/healthz", "x-request-id"),
        ("/no/such/path", "x-request-id"),
    ],
)
def test_every_response_carries_a_request_id(client: Any, path: str, header: str) -> None:
    assert client.get(path).headers[header]
