"""The PostgreSQL ceiling: pgbench running the service's own write transactions.

For each surface, pgbench runs on the service's seeded bench database the statements the
service's domain function sends (``models.trades.trades.update_trade``,
``models.strategies.purchases.update_purchase``; seen with SQLAlchemy's echo), in one transaction:

    BEGIN;
    SELECT <every column> FROM <table> WHERE id = :id AND <tenant scope> FOR UPDATE;
    UPDATE <table> SET <the columns the service sets> WHERE pk = :pk AND version = :v;
    INSERT INTO change_history (...) VALUES (...) RETURNING pk;
    COMMIT;

Every value the service binds is a bind parameter here too (``-M prepared``: psycopg 3
prepares a statement from its fifth execution on a connection), with the same body values
and history snapshots of the same size; only ``updated_at``/``changed_at`` are the
server's ``now()``. The row is picked at random among the seeded ones, as wrk does: a
random ``pk`` whose ``id`` a sub-select of the locking statement looks up (an index probe
on the server, no extra round trip). Latencies come from pgbench's per-transaction log.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select

from bench.load import Measurement
from bench.seed import Seeded
from models.common.tokens import Principal, find_principal, hash_token
from models.strategies import purchases as strategies
from models.strategies.purchases import StrategyPurchase
from models.trades import trades
from models.trades.trades import Trade
from tradepost import jsonio
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

_SCRIPTS = {
    "trades": r"""
\set n random({low}, {high})
\set quantity random(1, 100000)
\set total :quantity * 55
BEGIN;
SELECT {trade_columns} FROM trades
  WHERE id = (SELECT id FROM trades WHERE pk = :n) AND tenant_id = :tenant FOR UPDATE \gset row_
\set next_version :row_version + 1
UPDATE trades SET user_id = :user_id, country_code = :country_code, product_id = :product_id,
  description = :description, quantity = :quantity, indicative_unit_price = :price,
  total_amount = :total, product_unit_type = :unit_type, doc_links = :doc_links,
  labelling_requirement = :labelling, packaging_requirement = :packaging,
  version = :next_version, updated_at = now()
  WHERE pk = :row_pk AND version = :row_version;
{insert_history}
COMMIT;
""",
    "strategies": r"""
\set n random({low}, {high})
BEGIN;
SELECT {purchase_columns} FROM strategy_purchases
  WHERE id = (SELECT id FROM strategy_purchases WHERE pk = :n)
  AND tenant_id = :tenant AND user_id = :user_id FOR UPDATE \gset row_
\set next_version :row_version + 1
UPDATE strategy_purchases SET outputs_json = :outputs, version = :next_version,
  updated_at = now() WHERE pk = :row_pk AND version = :row_version;
{insert_history}
COMMIT;
""",
}
_INSERT_HISTORY = (
    "INSERT INTO change_history (resource_type, resource_id, tenant_id, version, action, "
    "changed_at, actor_tenant_id, actor_user_id, actor_token_id, request_id, before_json, "
    "after_json) VALUES (:resource_type, :row_id, :tenant, :next_version, 'update', now(), "
    ":tenant, :actor_user, :token_id, :request_id, :before, :after) RETURNING pk;"
)
# The trade PATCH body of bench/wrk/trades.lua, as the service stores it.
TRADE_BODY = {
    "product_id": "newProd123",
    "description": "Updated quality crude oil",
    "indicative_unit_price": Decimal(55),
    "product_unit_type": "Barrels",
    "doc_links": [{"name": "Updated Contract", "link": "http://example.com/updated-contract.pdf"}],
    "labelling_requirement": "Updated Hazardous Material",
    "packaging_requirement": "Updated Reinforced Steel Drums",
}
OUTPUTS = {"result": "ok", "detail": {"score": 0.95}}  # bench/wrk/strategies.lua's body


def pgbench_path() -> str:
    found = shutil.which("pgbench")
    if found is None:
        raise SystemExit("pgbench not found: `make bench` installs it (postgresql-client)")
    return found


def write_scripts(data: Seeded, directory: Path) -> dict[str, tuple[Path, list[str]]]:
    """Per surface: the script file and its ``-D name=value`` arguments."""
    db = Database(create_db_engine(Settings(database_url=data.url)))
    try:
        with db.read() as session:
            token_ids = {
                surface: find_principal(session, hash_token(token))
                for surface, token in (
                    ("trades", data.trade_token),
                    ("strategies", data.strategy_token),
                )
            }
            trade = dict(
                session.connection()
                .execute(select(trades.TABLE).order_by(trades.TABLE.c.pk).limit(1))
                .mappings()
                .one()
            )
            purchase = _first(session, StrategyPurchase)
            bounds = {
                name: session.execute(
                    text(f"SELECT min(pk), max(pk), count(*) FROM {table}")  # noqa: S608
                ).one()
                for name, table in (("trades", "trades"), ("strategies", "strategy_purchases"))
            }
    finally:
        db.dispose()
    before = trades.history_snapshot(trade)
    quantity = Decimal(50_000)
    changed = {**trade, **TRADE_BODY, "quantity": quantity}
    changed["total_amount"] = quantity * 55
    after = trades.history_snapshot(changed)
    purchase_before = strategies.history_snapshot(purchase)
    purchase.outputs_json = jsonio.dumps(OUTPUTS).decode()
    purchase_after = strategies.history_snapshot(purchase)
    request_id = uuid.uuid4().hex
    variables = {
        "trades": {
            "token_id": str(_token_id(token_ids["trades"])),
            "request_id": request_id,
            "resource_type": trades.RESOURCE,
            "tenant": trade["tenant_id"],
            "user_id": trade["user_id"],
            "actor_user": trade["user_id"],
            "country_code": trade["country_code"],
            "product_id": TRADE_BODY["product_id"],
            "description": TRADE_BODY["description"],
            "price": str(TRADE_BODY["indicative_unit_price"]),
            "unit_type": TRADE_BODY["product_unit_type"],
            "doc_links": jsonio.dumps(TRADE_BODY["doc_links"]).decode(),
            "labelling": TRADE_BODY["labelling_requirement"],
            "packaging": TRADE_BODY["packaging_requirement"],
            "before": jsonio.dumps(before).decode(),
            "after": jsonio.dumps(after).decode(),
        },
        "strategies": {
            "token_id": str(_token_id(token_ids["strategies"])),
            "request_id": request_id,
            "resource_type": strategies.RESOURCE,
            "tenant": purchase.tenant_id,
            "user_id": purchase.user_id,
            "actor_user": purchase.user_id,
            "outputs": purchase.outputs_json,
            "before": jsonio.dumps(purchase_before).decode(),
            "after": jsonio.dumps(purchase_after).decode(),
        },
    }
    scripts = {}
    for surface, template in _SCRIPTS.items():
        low, high, count = bounds[surface]
        if high - low + 1 != count:
            raise RuntimeError(f"{surface}: pk is not dense ({low}-{high}, {count} rows)")
        script = directory / f"pgbench-{surface}.sql"
        script.write_text(
            template.format(
                low=low,
                high=high,
                trade_columns=", ".join(Trade.__table__.columns.keys()),  # type: ignore[attr-defined]
                purchase_columns=", ".join(StrategyPurchase.__table__.columns.keys()),  # type: ignore[attr-defined]
                insert_history=_INSERT_HISTORY,
            ).lstrip()
        )
        defines = [f"{name}={value}" for name, value in variables[surface].items()]
        scripts[surface] = (script, defines)
    return scripts


def _token_id(principal: Principal | None) -> int:
    if principal is None or principal.token_id is None:
        raise RuntimeError("the seeded token is not in the database")
    return principal.token_id


def _first(session: Any, model: Any) -> Any:
    return session.exec(select(model).order_by(model.pk).limit(1)).one()


def run_pgbench(
    url: str,
    script: tuple[Path, list[str]],
    *,
    duration: float,
    clients: int,
    log_dir: Path,
) -> Measurement:
    """``clients`` connections on one pgbench thread (as wrk's), for ``duration`` seconds."""
    target = make_url(url)
    prefix = log_dir / f"pgbench-{uuid.uuid4().hex[:8]}"
    path, defines = script
    command = [pgbench_path(), "--no-vacuum", "--protocol", "prepared"]
    command += ["--client", str(clients), "--jobs", "1", "--time", str(max(1, round(duration)))]
    command += ["--file", str(path), "--log", "--log-prefix", str(prefix)]
    for define in defines:
        command += ["--define", define]
    command += ["--host", target.host or "127.0.0.1", "--port", str(target.port or 5432)]
    command += ["--username", target.username or "postgres", target.database or "postgres"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    logs = sorted(log_dir.glob(prefix.name + ".*"))
    latencies: list[float] = []
    failed = 0
    for log in logs:
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
            else:
                failed += 1
        log.unlink()
    if found is None or not latencies:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    aborted = len(re.findall(r"client \d+ aborted", done.stderr))
    latencies.sort()
    return Measurement(
        rps=float(found.group(1)),
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        requests=len(latencies),
        errors=failed + aborted,
    )
