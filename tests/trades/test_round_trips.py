"""Issue 30: the trade PATCH makes at most two round trips to PostgreSQL (the read, then
one statement that updates the row and inserts its history entry, committing itself):
no BEGIN, no COMMIT, no separate history INSERT. Counted at the driver (asyncpg) on a
one-connection pool after a warm-up request, so prepared statements and the token
cache are warm; a change that adds a round trip fails here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.factories import load_trade, make_trade
from tradepost.db import Database


@pytest.mark.postgres
def test_a_trade_patch_is_two_round_trips(
    one_connection_client: Any,
    db: Database,
    make_token: TokenFactory,
    round_trips: Counter[str],
) -> None:
    if not db.is_postgresql:
        pytest.skip("round trips are counted on PostgreSQL's driver")
    client = one_connection_client
    trade = make_trade(db)
    headers = {
        "Authorization": f"Bearer {make_token('TEN123', 'USR456')}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }
    url = f"/api/v1/trades/{trade.id}"
    warm = client.patch(url, json={"description": "warm-up"}, headers=headers)
    assert warm.status_code == 200
    tag = warm.headers["etag"]
    round_trips.clear()
    patches = 6
    for n in range(patches):
        conditional = {"If-Match": tag} if n % 2 else {}
        response = client.patch(url, json={"quantity": 10 + n}, headers={**headers, **conditional})
        assert response.status_code == 200
        tag = response.headers["etag"]
    assert dict(round_trips) == {"statement": 2 * patches}  # no BEGIN, COMMIT or prepare
    stored = load_trade(db, trade.id)
    assert (stored.version, stored.quantity) == (patches + 2, 10 + patches - 1)
    history = client.get(f"{url}/history?limit=100", headers=headers).json()["items"]
    assert [entry["version"] for entry in history] == list(range(1, patches + 3))


@pytest.mark.parametrize("if_match", [None, "tag"])
def test_a_write_that_finds_the_version_moved_retries_or_is_412(
    db: Database, if_match: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a lock between the read and the write, another writer may come first:
    an unconditional PATCH then runs again from a fresh read (its change and the other
    one both kept), one with a specific ``If-Match`` tag is 412 and changes nothing."""
    from sqlalchemy import text

    from models.common.caller import Caller
    from models.common.tokens import Principal
    from models.trades import trades
    from tradepost.conditional import precondition
    from tradepost.errors import PreconditionFailed

    trade = make_trade(db)
    real_apply = trades._apply
    interfered: list[int] = []

    def another_writer_first(session: Any, *args: Any) -> Any:
        if not interfered:
            interfered.append(1)
            session.connection().execute(
                text(
                    "UPDATE trades SET description = 'other', version = version + 1 WHERE pk = :pk"
                ),
                {"pk": trade.pk},
            )
        return real_apply(session, *args)

    monkeypatch.setattr(trades, "_apply", another_writer_first)
    caller = Caller(Principal(1, "TEN123", "USR456", None), user_id="USR456", country_code="US")
    condition = precondition(trade.etag if if_match else None)
    with db.write() as session:
        if if_match:
            with pytest.raises(PreconditionFailed):
                trades.update_trade(
                    session, caller, trade.id, {"quantity": 7}, precondition=condition
                )
        else:
            written = trades.update_trade(session, caller, trade.id, {"quantity": 7})
            assert (written["version"], written["description"]) == (3, "other")
    stored = load_trade(db, trade.id)
    if if_match:
        assert (stored.version, stored.quantity, stored.description) == (2, 1000, "other")
    else:
        assert (stored.version, stored.quantity, stored.description) == (3, 7, "other")
