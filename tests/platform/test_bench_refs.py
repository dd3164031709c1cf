"""The benchmark's reference apps really apply the trade PATCH to their own database."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bench import pgbench, seed
from bench.references import echo_app, starlette_app
from tests.factories import load_trade
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

BODY = {
    "productId": "newProd123",
    "quantity": 1500,
    "indicativeUnitPrice": 55,
    "totalAmount": 82500,
    "docLinks": [{"name": "Updated Contract", "link": "http://example.com/c.pdf"}],
    "userId": "USR456",
    "tenantId": "TEN123",
    "countryCode": "US",
}


@pytest.fixture
def seeded(tmp_path: Path) -> seed.Seeded:
    return seed.seed(f"sqlite:///{tmp_path / 'bench.db'}", rows=3)


def stored(url: str, trade_id: str) -> Any:
    db = Database(create_db_engine(Settings(database_url=url)))
    try:
        return load_trade(db, trade_id)
    finally:
        db.dispose()


def headers(data: seed.Seeded) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {data.trade_token}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }


def test_starlette_reference_updates_the_row(seeded: seed.Seeded) -> None:
    trade_id = seeded.trade_ids[1]
    with TestClient(starlette_app.create_app(seeded.url)) as client:
        response = client.patch(f"/api/v1/trades/{trade_id}", json=BODY)
    assert response.status_code == 200, response.text
    trade = stored(seeded.url, trade_id)
    assert (trade.product_id, trade.quantity, trade.version) == ("newProd123", Decimal(1500), 2)
    assert trade.doc_links == BODY["docLinks"]


def test_fastapi_reference_validates_authenticates_and_updates(seeded: seed.Seeded) -> None:
    fastapi_app = pytest.importorskip("bench.references.fastapi_app")
    trade_id = seeded.trade_ids[2]
    with TestClient(fastapi_app.create_app(seeded.url)) as client:
        url = f"/api/v1/trades/{trade_id}"
        assert client.patch(url, json=BODY).status_code == 401
        bad = client.patch(url, json={**BODY, "quantity": -1}, headers=headers(seeded))
        assert bad.status_code == 422
        assert client.patch(url, json={}, headers=headers(seeded)).status_code == 422
        other = client.patch(url, json={**BODY, "tenantId": "X"}, headers=headers(seeded))
        assert other.status_code == 403
        response = client.patch(url, json=BODY, headers=headers(seeded))
    assert response.status_code == 200, response.text
    assert response.json()["trade"]["quantity"] == 1500
    trade = stored(seeded.url, trade_id)
    assert (trade.product_id, trade.total_amount, trade.version) == (
        "newProd123",
        Decimal(82500),
        2,
    )


def test_echo_answers_the_body() -> None:
    with TestClient(echo_app.create_app()) as client:
        response = client.patch("/api/v1/trades/x", json=BODY)
    assert response.json() == BODY


def test_pgbench_scripts_are_the_services_transactions(seeded: seed.Seeded, tmp_path: Path) -> None:
    """``make bench`` writes pgbench's scripts from a seeded database: each locks a row,
    updates it under its version and records history, with the seeded tenant bound."""
    scripts = pgbench.write_scripts(seeded, tmp_path)
    assert set(scripts) == {"trades", "strategies"}
    for surface, (path, defines) in scripts.items():
        script = path.read_text()
        assert "FOR UPDATE" in script, surface
        assert "AND version = :row_version" in script, surface
        assert "INSERT INTO change_history" in script, surface
        variables = dict(define.split("=", 1) for define in defines)
        tenant = seed.TRADE_TENANT if surface == "trades" else seed.STRATEGY_TENANT
        assert variables["tenant"] == tenant
    trade = dict(define.split("=", 1) for define in scripts["trades"][1])
    assert json.loads(trade["before"])["productId"] == "prod0"
    assert json.loads(trade["after"])["productId"] == "newProd123"
