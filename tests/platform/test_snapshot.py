"""The suite's database snapshot (``tests.contract.snapshot``, which every "changes nothing"
assertion compares) sees any changed, added or removed row, a blob's last byte included,
on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.contract import snapshot
from tests.factories import make_trade
from tradepost.db import Database


def change(sql: str, **params: object) -> Callable[[Database], None]:
    def run(db: Database) -> None:
        with db.write() as session:
            assert session.execute(text(sql), params).rowcount == 1

    return run


CHANGES = {
    "one character of a text": change(
        "UPDATE trades SET description = description || 'x' WHERE pk = 1"
    ),
    "a number": change("UPDATE trades SET quantity = quantity + 1 WHERE pk = 1"),
    "a null": change("UPDATE trades SET description = NULL WHERE pk = 1"),
    "a new row": change(
        "INSERT INTO change_history (resource_type, resource_id, tenant_id, version, action,"
        " changed_at, actor_tenant_id, after_json) SELECT resource_type, resource_id,"
        " tenant_id, version + 1, action, changed_at, actor_tenant_id, after_json"
        " FROM change_history WHERE pk = 1"
    ),
    "a blob's last byte": change("UPDATE offset_files SET content = :content", content=b"%PDF-2"),
    "a removed row": change("DELETE FROM trades WHERE pk = 2"),
}


@pytest.mark.parametrize("what", CHANGES)
def test_a_snapshot_sees_every_change(db: Database, what: str) -> None:
    make_trade(db, description="first")
    make_trade(db, description="second")
    with db.write() as session:
        session.execute(
            text(
                "INSERT INTO offset_files (id, tenant_id, purchase_id, purpose, filename,"
                " content, size, created_at, updated_at) VALUES ('F1', 'T', 'P1', 'receipt',"
                " 'r.pdf', :content, 6, :at, :at)"
            ),
            {"content": b"%PDF-1", "at": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    before = snapshot(db)
    assert snapshot(db) == before  # nothing changed: equal
    CHANGES[what](db)
    assert snapshot(db) != before
