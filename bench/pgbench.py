"""The PostgreSQL ceiling: pgbench running the service's own statements for a request.

For each surface, the statements are taken from the service itself: the domain function
behind the request (``models.trades.trades.update_trade``,
``models.strategies.purchases.update_purchase``, and for the Strategies PUT the token
lookup ``models.common.tokens.find_principal`` that runs on every such request) runs once
on the seeded bench database with a cursor hook recording each statement the driver is
sent, with its bind values. Each becomes one pgbench command, in the same autocommit
mode the service sends it in (issue 30: no BEGIN, no COMMIT):

    SELECT <every column> FROM <table> WHERE id = :id AND <tenant scope>   \\gset row_
    WITH updated AS (UPDATE <table> SET ... WHERE pk = :pk AND version = :v RETURNING pk)
      INSERT INTO change_history SELECT ... FROM updated RETURNING version;

Every bind value stays a bind parameter (``-M prepared``; the service's asyncpg prepares
and caches its statements per connection), with the values the service sent. What varies
per request varies here too: the row is picked at random among the seeded ones, as wrk
does (the read's ``id`` becomes a sub-select by a random ``pk``, an index probe on the
server), the write is guarded by the version just read, and the trade's quantity and total
are random as in ``bench/wrk/trades.lua``. A change of the service's statements changes
the script with it; a change of their parameters fails here, loudly. Latencies come from
pgbench's per-transaction log (one "transaction" is one request's statements).
"""

from __future__ import annotations

import datetime
import re
import shutil
import statistics
import subprocess
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bench.load import Measurement
from bench.seed import STRATEGY_USER, TRADE_TENANT, TRADE_USER, Seeded
from models.common.caller import Caller
from models.common.tokens import Principal, find_principal, hash_token
from models.strategies import purchases
from models.trades import trades
from tradepost import jsonio
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

Script = tuple[Path, list[str]]
"""A pgbench script file and its ``--define name=value`` arguments."""

TABLES = {"trades": "trades", "strategies": "strategy_purchases"}
# What pgbench works out per request, by the name of the bind parameter the service sent.
PER_ROW = {
    "guard_pk": ":row_pk",
    "guard_version": ":row_version",
    "set_version": ":next_version",
    "entry_version": ":next_version",
    "entry_resource_id": ":row_id",
}
PER_REQUEST = {
    "trades": {"set_quantity": ":quantity", "set_total_amount": ":total"},
    "strategies": {},
}
PRELUDE = {
    "trades": "\\set n random({low}, {high})\n\\set quantity random(1, 100000)\n"
    "\\set total :quantity * 55\n",
    "strategies": "\\set n random({low}, {high})\n",
}
# The trade PATCH body of bench/wrk/trades.lua, as the domain function takes it.
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
_BIND = re.compile(r"%\((\w+)\)s")

Statement = tuple[str, dict[str, Any]]


def pgbench_path() -> str:
    found = shutil.which("pgbench")
    if found is None:
        raise SystemExit("pgbench not found: `make bench` installs it (postgresql-client)")
    return found


def write_scripts(data: Seeded, directory: Path) -> dict[str, Script]:
    """Per surface: the service's statements for one request, as a pgbench script."""
    db = Database(create_db_engine(Settings(database_url=data.url)))
    try:
        with db.read() as session:
            trader = _principal(session, data.trade_token)
            bounds = {
                surface: session.execute(
                    text(f"SELECT min(pk), max(pk), count(*) FROM {table}")  # noqa: S608
                ).one()
                for surface, table in TABLES.items()
            }
        request_id = uuid.uuid4().hex
        trade_caller = Caller.of(trader, request_id).naming(TRADE_TENANT, TRADE_USER, "US")
        quantity = Decimal(50_000)
        changes = {**TRADE_BODY, "quantity": quantity, "total_amount": quantity * 55}

        def trade_patch(session: Session) -> None:
            trades.update_trade(session, trade_caller, data.trade_ids[0], dict(changes))

        def strategies_put(session: Session) -> None:
            caller = Caller.of(_principal(session, data.strategy_token), request_id)
            body = {"outputs": OUTPUTS}
            purchases.update_purchase(session, caller, STRATEGY_USER, data.purchase_ids[0], body)

        sent = {
            "trades": (_capture(db, trade_patch), data.trade_ids[0]),
            "strategies": (_capture(db, strategies_put), data.purchase_ids[0]),
        }
    finally:
        db.dispose()
    scripts = {}
    for surface, (statements, row_id) in sent.items():
        low, high, count = bounds[surface]
        if high - low + 1 != count:
            raise RuntimeError(f"{surface}: pk is not dense ({low}-{high}, {count} rows)")
        commands, defines = _commands(surface, statements, row_id)
        script = directory / f"pgbench-{surface}.sql"
        script.write_text(PRELUDE[surface].format(low=low, high=high) + commands)
        scripts[surface] = (script, [f"{name}={value}" for name, value in defines.items()])
    return scripts


def _principal(session: Session, token: str) -> Principal:
    principal = find_principal(session, hash_token(token))
    if principal is None:
        raise RuntimeError("the seeded token is not in the database")
    return principal


def _capture(db: Database, work: Callable[[Session], None]) -> list[Statement]:
    """The statements ``work`` sends to the database, with their bind values."""
    sent: list[Statement] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, dict(parameters or {})))

    event.listen(db.write_engine, "before_cursor_execute", record)
    try:
        with db.write() as session:
            work(session)
    finally:
        event.remove(db.write_engine, "before_cursor_execute", record)
    return sent


def _commands(surface: str, statements: list[Statement], row_id: str) -> tuple[str, dict[str, str]]:
    """pgbench commands for the statements, and the values of their variables.

    The read of the row (the one statement that binds its id) takes a random row and sets
    ``row_*`` with ``\\gset``; the write takes the row's pk and version from there."""
    computed = {**PER_ROW, **PER_REQUEST[surface]}
    commands: list[str] = []
    defines: dict[str, str] = {}
    used: set[str] = set()
    for number, (statement, params) in enumerate(statements):
        if statement.lstrip().startswith("SELECT") and row_id in params.values():
            random_row = f"(SELECT id FROM {TABLES[surface]} WHERE pk = :n)"  # noqa: S608
            sql = _substitute(
                statement,
                params,
                {k: random_row for k, v in params.items() if v == row_id},
                defines,
                f"s{number}_",
            )
            commands.append(f"{sql} \\gset row_\n\\set next_version :row_version + 1")
        else:
            fixed = {name: computed[name] for name in params if name in computed}
            used.update(fixed)
            sql = _substitute(statement, params, fixed, defines, f"s{number}_")
            commands.append(f"{sql};")
    if used != computed.keys():
        missing = sorted(computed.keys() - used)
        raise RuntimeError(f"{surface}: the service no longer binds {missing}; update PER_ROW")
    return "\n".join(commands) + "\n", defines


def _substitute(
    statement: str,
    params: dict[str, Any],
    fixed: dict[str, str],
    defines: dict[str, str],
    prefix: str,
) -> str:
    """The statement with pgbench variables for its binds: ``fixed`` ones as given, the
    others ``:<prefix><name>``, their values added to ``defines`` (None and the empty
    string inline)."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in fixed:
            return fixed[name]
        if params[name] is None:
            return "NULL"
        if params[name] == "":
            return "''"  # pgbench takes no empty --define
        defines[prefix + name] = _text(params[name])
        return f":{prefix}{name}"

    return _BIND.sub(variable, statement).replace("%%", "%").strip()


def _text(value: Any) -> str:
    """A bind value as pgbench passes it: text, which the server reads as the parameter's
    type (the service's statements cast every parameter)."""
    if isinstance(value, Json):
        return jsonio.dumps(value.obj).decode()
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return jsonio.dumps(value).decode()
    return str(value)


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
