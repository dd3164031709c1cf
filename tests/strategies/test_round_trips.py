"""Issue 30: the Strategies PUT (``.../purchase/{id}/update``) writes in two round trips
to PostgreSQL: the read, then one statement that updates the purchase (guarded by the
version it read) and inserts its history entry, committing itself. Its request also
looks its token up, on every request (a customer's token is never cached: a password
change revokes it at once in every process). Counted at the driver (tests/round_trips.py)
after a warm-up request; a change that adds a round trip fails here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.factories import load_strategy_purchase, make_customer, make_strategy_purchase
from tradepost.db import Database


@pytest.mark.postgres
def test_a_strategy_purchase_put_is_two_round_trips(
    one_connection_client: Any,
    db: Database,
    make_token: TokenFactory,
    round_trips: Counter[str],
) -> None:
    """Two round trips per PUT's write, with or without If-Match, and every PUT recorded;
    the token lookup beside it."""
    if not db.is_postgresql:
        pytest.skip("round trips are counted on PostgreSQL's driver")
    client = one_connection_client
    make_customer(db)
    purchase = make_strategy_purchase(db)
    headers = {"Authorization": f"Bearer {make_token('CUST1', 'example_user', kind='strategies')}"}
    url = f"/api/v0/user/example_user/purchase/{purchase.id}/update"
    warm = client.put(url, json={"outputs": {"n": 0}, "status": "in_progress"}, headers=headers)
    assert warm.status_code == 200, warm.text
    tag = warm.headers["etag"]
    round_trips.clear()
    puts = 6
    for n in range(puts):
        conditional = {"If-Match": tag} if n % 2 else {}
        response = client.put(
            url,
            json={"outputs": {"n": n + 1}, "status": "in_progress", "error": f"e{n}"},
            headers={**headers, **conditional},
        )
        assert response.status_code == 200, response.text
        tag = response.headers["etag"]
    # Per PUT: the write's read and its one statement, and the token lookup (an
    # autocommitted read: no BEGIN, ROLLBACK, COMMIT or prepare).
    assert dict(round_trips) == {"statement": 3 * puts}
    stored = load_strategy_purchase(db, purchase.id)
    assert (stored.version, stored.outputs_json, stored.error) == (puts + 2, '{"n":6}', "e5")
    history = client.get(
        f"/api/v0/user/example_user/purchase/{purchase.id}/history?limit=100", headers=headers
    ).json()
    assert [entry["version"] for entry in history["results"]] == list(range(1, puts + 3))


@pytest.mark.parametrize("if_match", [None, "tag"])
def test_a_put_that_finds_the_version_moved_retries_or_is_412(
    db: Database, if_match: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a lock between the read and the write, another writer may come first:
    a PUT without ``If-Match`` then runs again from a fresh read (its outputs and the
    other writer's error both kept), one with a specific tag is 412 and changes nothing,
    not even the history."""
    from sqlalchemy import text

    from models.common import optimistic
    from models.common.caller import Caller
    from models.strategies import purchases
    from tradepost.conditional import precondition
    from tradepost.errors import PreconditionFailed

    purchase = make_strategy_purchase(db)
    real_apply = optimistic.apply
    interfered: list[int] = []

    def another_writer_first(session: Any, *args: Any, **kwargs: Any) -> Any:
        if not interfered:
            interfered.append(1)
            session.connection().execute(
                text(
                    "UPDATE strategy_purchases SET error = 'other', version = version + 1"
                    " WHERE pk = :pk"
                ),
                {"pk": purchase.pk},
            )
        return real_apply(session, *args, **kwargs)

    monkeypatch.setattr(optimistic, "apply", another_writer_first)
    caller = Caller.for_tenant("CUST1")
    condition = precondition(purchase.etag if if_match else None)
    update = {"outputs": {"n": 1}, "status": "in_progress"}
    with db.write() as session:
        if if_match:
            with pytest.raises(PreconditionFailed):
                purchases.update_purchase(
                    session, caller, "example_user", purchase.id, update, precondition=condition
                )
        else:
            written = purchases.update_purchase(
                session, caller, "example_user", purchase.id, update
            )
            assert (written.version, written.error, written.status) == (3, "other", "in_progress")
    stored = load_strategy_purchase(db, purchase.id)
    with db.read() as session:
        _entries, recorded = purchases.purchase_history(
            session, caller, "example_user", purchase.id, limit=10, offset=0
        )
    if if_match:
        assert (stored.version, stored.outputs_json, stored.error, stored.status) == (
            2,
            None,
            "other",
            "pending",
        )
        assert recorded == 1  # the submission's entry only
    else:
        assert (stored.version, stored.outputs_json, stored.error, stored.status) == (
            3,
            '{"n":1}',
            "other",
            "in_progress",
        )
        assert recorded == 2
    assert interfered == [1]
