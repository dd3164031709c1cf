"""Issue 30: the carbon-offset PATCH (``/v2/purchases/{id}``) makes at most two round
trips to PostgreSQL, whatever it changes: the read (the purchase, by id or external
reference, with its files), then one statement that updates the purchase (guarded by the
version it read), writes its document files, its webhook outbox rows and its history
entry, committing itself. Counted at the driver (tests/round_trips.py) after a warm-up
of the same patches; a change that adds a round trip fails here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlmodel import select

from models.common.caller import Caller
from models.offsets import webhooks
from models.offsets.purchases import OffsetFile
from models.offsets.webhooks import WebhookDelivery
from tests.conftest import TokenFactory
from tests.factories import load_offset_purchase, make_offset_purchase
from tradepost.db import Database

DOCUMENT = {"full_name": "Ada Lovelace", "address": {"country": "DE"}}


def patches(round_: int) -> list[tuple[str, dict[str, Any]]]:
    """Every shape of PATCH: (whom it addresses, body)."""
    return [
        ("id", {"metadata": {"round": str(round_)}}),
        ("id", {"external_reference": f"ref-{round_}"}),
        ("reference", {"metadata": {"by": "reference"}}),
        ("id", {"confirmation_document": DOCUMENT}),  # a new file and an outbox row
        ("id", {"confirmation_document": {"full_name": f"Ada {round_}"}}),  # rendered again
        ("id", {"confirmation_document": None, "metadata": {"round": None}}),  # file deleted
    ]


@pytest.mark.postgres
def test_an_offset_purchase_patch_is_two_round_trips(
    one_connection_client: Any,
    db: Database,
    make_token: TokenFactory,
    round_trips: Counter[str],
) -> None:
    """Two round trips per PATCH of every shape, with or without If-Match, and each
    PATCH's files, outbox rows and history entry all written."""
    if not db.is_postgresql:
        pytest.skip("round trips are counted on PostgreSQL's driver")
    client = one_connection_client
    purchase = make_offset_purchase(db)
    with db.write() as session:
        webhooks.create_webhook(
            session,
            Caller.for_tenant("CLIENT1"),
            {"kind": "confirmation_document_available", "endpoint_url": "https://example.com/h"},
        )
    headers = {"Authorization": f"Bearer {make_token('CLIENT1')}"}
    tag = ""

    def patch_all(round_: int) -> int:
        nonlocal tag
        sent = 0
        for n, (whom, body) in enumerate(patches(round_)):
            ref = purchase.id if whom == "id" else f"ref-{round_}"
            conditional = {"If-Match": tag} if n % 2 and tag else {}
            response = client.patch(
                f"/v2/purchases/{ref}", json=body, headers={**headers, **conditional}
            )
            assert response.status_code == 200, response.text
            tag = response.headers["etag"]
            sent += 1
        return sent

    patch_all(0)  # the warm-up: every statement prepared once on the one connection
    round_trips.clear()
    sent = patch_all(1)
    assert dict(round_trips) == {"statement": 2 * sent}  # no BEGIN, COMMIT or prepare
    stored = load_offset_purchase(db, purchase.id)
    assert (stored.version, stored.external_reference) == (2 * sent + 1, "ref-1")
    assert (stored.confirmation_json, stored.metadata_dict) == (None, {"by": "reference"})
    with db.read() as session:
        assert list(session.exec(select(OffsetFile))) == []
        outbox = list(session.exec(select(WebhookDelivery)))
    assert len(outbox) == 4  # two documents generated in each round
    history = client.get(f"/v2/purchases/{purchase.id}/history?limit=100", headers=headers)
    assert [entry["version"] for entry in history.json()["data"]] == list(range(1, 2 * sent + 2))


def subscribe(db: Database, kind: str = "confirmation_document_available") -> None:
    with db.write() as session:
        webhooks.create_webhook(
            session, Caller.for_tenant("CLIENT1"), {"kind": kind, "endpoint_url": "https://h.test"}
        )


def written(db: Database, purchase_id: str) -> tuple[int, dict[str, str], int, int, int]:
    """The purchase's version and metadata, and how many files, outbox rows and history
    entries there are."""
    from models.offsets import purchases

    stored = load_offset_purchase(db, purchase_id)
    with db.read() as session:
        files = len(list(session.exec(select(OffsetFile))))
        outbox = len(list(session.exec(select(WebhookDelivery))))
        _entries, more = purchases.purchase_history(
            session, Caller.for_tenant("CLIENT1"), purchase_id, limit=100, starting_after=None
        )
        assert not more
    return stored.version, stored.metadata_dict, files, outbox, len(_entries)


@pytest.mark.parametrize("if_match", [None, "tag"])
def test_a_patch_that_finds_the_version_moved_retries_or_is_412(
    db: Database, if_match: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a lock between the read and the write, another writer may come first:
    a PATCH without ``If-Match`` then runs again from a fresh read (its merge patch
    applied over the other writer's metadata, both kept, with its file, outbox row and
    history entry), one with a specific tag is 412 and writes nothing at all."""
    from sqlalchemy import text

    from models.common import optimistic
    from models.offsets import purchases
    from tradepost.conditional import precondition
    from tradepost.errors import PreconditionFailed

    purchase = make_offset_purchase(db)
    subscribe(db)
    real_apply = optimistic.apply
    interfered: list[int] = []

    def another_writer_first(session: Any, *args: Any, **kwargs: Any) -> Any:
        if not interfered:
            interfered.append(1)
            session.connection().execute(
                text(
                    'UPDATE offset_purchases SET metadata_json = \'{"other":"y"}\','
                    " version = version + 1 WHERE pk = :pk"
                ),
                {"pk": purchase.pk},
            )
        return real_apply(session, *args, **kwargs)

    monkeypatch.setattr(optimistic, "apply", another_writer_first)
    caller = Caller.for_tenant("CLIENT1")
    condition = precondition(purchase.etag if if_match else None)
    patch = {"metadata": {"mine": "x"}, "confirmation_document": DOCUMENT}
    with db.write() as session:
        if if_match:
            with pytest.raises(PreconditionFailed):
                purchases.update_purchase(
                    session, caller, purchase.id, patch, precondition=condition
                )
        else:
            updated, files = purchases.update_purchase(session, caller, purchase.id, patch)
            assert (updated.version, [f.purpose for f in files]) == (3, ["confirmation_document"])
    if if_match:
        assert written(db, purchase.id) == (2, {"other": "y"}, 0, 0, 1)
    else:
        assert written(db, purchase.id) == (3, {"other": "y", "mine": "x"}, 1, 1, 2)
    assert interfered == [1]


def test_a_patch_whose_history_entry_is_refused_writes_nothing(
    client: Any, db: Database, make_token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purchase, its new file, its outbox row and its history entry are written
    together or not at all: when the database refuses the entry (in the PATCH's one
    autocommitted statement on PostgreSQL, in its transaction on SQLite), the PATCH is a
    500 and nothing of it remains."""
    from models.offsets import purchases

    purchase = make_offset_purchase(db)
    subscribe(db)
    real_entry = purchases.entry_values

    def refused_by_the_database(**kwargs: Any) -> dict[str, Any]:
        return {**real_entry(**kwargs), "action": None}  # NOT NULL

    monkeypatch.setattr(purchases, "entry_values", refused_by_the_database)
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"metadata": {"mine": "x"}, "confirmation_document": DOCUMENT},
        headers={"Authorization": f"Bearer {make_token('CLIENT1')}"},
    )
    assert response.status_code == 500
    assert written(db, purchase.id) == (1, {}, 0, 0, 1)
