"""Idempotency keys (models.common.idempotency, tradepost.http.idempotency): claims, scopes,
expiry, fingerprints."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select
from starlette.datastructures import Headers

from models.common import idempotency
from models.common.idempotency import Claim, IdempotencyKey
from models.common.tokens import Principal
from models.common.types import utcnow
from tradepost.db import Database
from tradepost.http.idempotency import fingerprint, spec_operations

ALICE = Principal(1, "TEN123", "alice", None)
BOB = Principal(2, "TEN123", "bob", None)
TENANT_WIDE = Principal(3, "TEN123", None, None)
DAY = timedelta(hours=24)
LEASE = timedelta(seconds=30)


def claim(db: Database, who: Principal, key: str = "k1", print_: str = "f1") -> object:
    """None when this claim won, else the holder's (state, fingerprint)."""
    with db.write() as session:
        holder = idempotency.claim(session, principal=who, key=key, fingerprint=print_, lease=LEASE)
        if isinstance(holder, idempotency.Claim):
            return None
        return (holder.state, holder.fingerprint)


def won(db: Database, who: Principal, key: str = "k1", print_: str = "f1") -> Claim:
    with db.write() as session:
        holder = idempotency.claim(session, principal=who, key=key, fingerprint=print_, lease=LEASE)
    assert isinstance(holder, Claim)
    return holder


def complete(db: Database, holder: Claim) -> None:
    with db.write() as session:
        idempotency.complete(
            session, holder, status_code=201, headers_json="{}", body="{}", lifetime=DAY
        )


def test_the_first_claim_wins_and_later_ones_see_it(db: Database) -> None:
    assert claim(db, ALICE) is None
    assert claim(db, ALICE, print_="f2") == (idempotency.IN_FLIGHT, "f1")


def test_keys_belong_to_one_caller(db: Database) -> None:
    assert claim(db, ALICE) is None
    assert claim(db, BOB) is None
    assert claim(db, TENANT_WIDE) is None
    assert idempotency.scope_of(TENANT_WIDE) == "TEN123/token:3"
    assert idempotency.scope_of(ALICE) == "TEN123/user:alice"


def test_a_released_claim_can_be_claimed_again(db: Database) -> None:
    holder = won(db, ALICE)
    with db.write() as session:
        idempotency.release(session, holder)
    assert claim(db, ALICE, print_="f2") is None


def test_a_completed_key_is_not_released(db: Database) -> None:
    holder = won(db, ALICE)
    complete(db, holder)
    with db.write() as session:
        idempotency.release(session, holder)
    assert claim(db, ALICE) == (idempotency.COMPLETED, "f1")


def test_expired_keys_are_replaced_and_purged(db: Database) -> None:
    complete(db, won(db, ALICE, key="old"))
    complete(db, won(db, ALICE, key="new"))
    with db.write() as session:
        row = session.exec(select(IdempotencyKey).where(IdempotencyKey.key == "old")).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert claim(db, ALICE, key="old", print_="f2") is None  # the expired holder is gone
    with db.write() as session:
        assert idempotency.purge_expired(session, now=utcnow() + DAY + timedelta(minutes=1)) == 2
    with db.read() as session:
        assert session.exec(select(IdempotencyKey)).all() == []


def test_an_in_flight_claim_is_a_lease_and_a_completed_one_lasts_its_lifetime(
    db: Database,
) -> None:
    """Issue 26, medium 5: a claim left by a process that died blocks its key for the
    lease only, not for the 24 hours a stored response is kept."""
    holder = won(db, ALICE)
    with db.read() as session:
        row = session.exec(select(IdempotencyKey)).one()
    assert row.expires_at - row.created_at == LEASE
    complete(db, holder)
    with db.read() as session:
        row = session.exec(select(IdempotencyKey)).one()
    assert row.expires_at - utcnow() > DAY - timedelta(minutes=1)


def test_a_claim_taken_over_after_its_lease_cannot_complete(db: Database) -> None:
    """The slow first request lost its key to a retry: it must not store (its create is
    rolled back), so the key creates once; the retry's claim is untouched."""
    slow = won(db, ALICE)
    with db.write() as session:
        row = session.exec(select(IdempotencyKey)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)  # the lease ran out
        session.add(row)
    retry = won(db, ALICE)
    with pytest.raises(idempotency.ClaimLost), db.write() as session:
        idempotency.complete(
            session, slow, status_code=201, headers_json="{}", body="slow", lifetime=DAY
        )
    with db.write() as session:
        idempotency.release(session, slow)  # the slow request gives up: not the retry's
    complete(db, retry)
    assert claim(db, ALICE) == (idempotency.COMPLETED, "f1")


def test_a_claim_purged_after_its_lease_still_stores_its_response(db: Database) -> None:
    """Nobody took the key over: the create that finished late keeps its response."""
    late = won(db, ALICE)
    with db.write() as session:
        assert idempotency.purge_expired(session, now=utcnow() + LEASE * 2) == 1
    complete(db, late)
    assert claim(db, ALICE, print_="f1") == (idempotency.COMPLETED, "f1")


def test_fingerprints_ignore_formatting_but_not_content() -> None:
    headers = Headers({"tenantId": "TEN123", "userId": "USR456"})
    first = fingerprint("POST", "/api/v1/trades", headers, {"a": 1, "b": Decimal("2.50")})
    assert first == fingerprint("post", "/api/v1/trades", headers, {"b": Decimal("2.50"), "a": 1})
    assert first != fingerprint("POST", "/api/v1/trades", headers, {"a": 1, "b": Decimal("2.51")})
    assert first != fingerprint("POST", "/api/v1/other", headers, {"a": 1, "b": Decimal("2.50")})
    other_user = Headers({"tenantId": "TEN123", "userId": "USR999"})
    body = {"a": 1, "b": Decimal("2.50")}
    assert first != fingerprint("POST", "/api/v1/trades", other_user, body)


def test_the_spec_names_the_idempotent_operations() -> None:
    ref = "#/components/parameters/IdempotencyKey"
    paths = {
        "/a": {"post": {"operationId": "createA", "parameters": [{"$ref": ref}]}},
        "/a/{id}": {"parameters": [], "get": {"operationId": "getA"}},
    }
    assert spec_operations(paths, ref) == {"createA"}
