"""The benchmark's reference apps really apply the trade PATCH to their own database."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from bench import pgbench, seed
from bench.references import echo_app, starlette_app
from models.common.tokens import hash_token
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


@pytest.fixture
def pg_seeded(pg_database: str, tmp_path: Path) -> Iterator[seed.Seeded]:
    """A bench database beside the worker's test database (``seed`` recreates it)."""
    url = make_url(pg_database)
    bench_url = url.set(database=f"{url.database}_bench").render_as_string(hide_password=False)
    yield seed.seed(bench_url, rows=20)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}_bench" WITH (FORCE)'))
    admin.dispose()


def history_rows(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        count: int = connection.execute(text("SELECT count(*) FROM change_history")).scalar_one()
    engine.dispose()
    return count


@pytest.mark.postgres
def test_pgbench_runs_the_statements_the_service_sends(
    pg_seeded: seed.Seeded, tmp_path: Path
) -> None:
    """``make bench``'s pgbench scripts are the service's own statements, recorded from its
    domain functions: the read (a random row), then one statement that updates the row
    under the version read and records its history, in autocommit mode (no BEGIN, no
    COMMIT, no lock); the Strategies PUT looks its token up first. Run, each request
    writes one history entry."""
    scripts = pgbench.write_scripts(pg_seeded, tmp_path)
    assert set(scripts) == {"trades", "strategies"}
    for surface, (path, _defines) in scripts.items():
        script = path.read_text()
        for absent in ("BEGIN", "COMMIT", "FOR UPDATE"):
            assert absent not in script, surface
        commands = [line for line in script.splitlines() if line.rstrip().endswith(";")]
        assert len(commands) == (1 if surface == "trades" else 2), script
        assert "\\gset row_" in script
        assert "WHERE pk = :n" in script
        assert "version = :row_version" in script
        assert script.count("INSERT INTO change_history") == 1
        assert commands[-1].endswith("RETURNING change_history.version;")
    trade = dict(define.split("=", 1) for define in scripts["trades"][1])
    assert trade["s0_tenant"] == seed.TRADE_TENANT
    assert json.loads(trade["s1_entry_before_json"])["productId"] == "prod0"
    assert json.loads(trade["s1_entry_after_json"])["productId"] == "newProd123"
    purchase = dict(define.split("=", 1) for define in scripts["strategies"][1])
    assert purchase["s0_token_hash_1"] == hash_token(pg_seeded.strategy_token)
    if shutil.which("pgbench") is None:
        pytest.skip("pgbench is not installed (`make bench` installs it)")
    for surface in scripts:
        before = history_rows(pg_seeded.url)
        measured = pgbench.run_pgbench(
            pg_seeded.url, scripts[surface], duration=1, clients=1, log_dir=tmp_path
        )
        assert measured.errors == 0
        assert history_rows(pg_seeded.url) - before == measured.requests, surface
