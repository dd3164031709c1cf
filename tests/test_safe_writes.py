"""Safe writes on every surface: ETags and conditional requests, idempotent creates,
change history and request ids. In-process, on SQLite and PostgreSQL.

The concurrency tests against real server processes are in test_safe_writes_concurrency.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from starlette.datastructures import Headers

from models import idempotency
from models.history import ChangeEntry
from models.strategies import StrategyPurchase
from models.tokens import find_token, hash_token
from models.trades import Trade
from tests.conftest import TokenFactory
from tests.factories import load_strategy_purchase, load_trade, make_strategy_purchase, make_trade
from tests.test_strategies import error_of, get_url, update_url
from tests.test_trades import assert_trade_error, trade_headers
from tradepost.db import Database
from tradepost.idempotency import fingerprint

NEW_TRADE = {
    "productId": "p1",
    "quantity": 10,
    "indicativeUnitPrice": 5,
    "productUnitType": "Units",
}
SUBMISSION = {"purchase": [{"datetime": "2025-01-15 00:00", "purchase": 12.5}]}
OUTPUTS = {"outputs": {"result": "ok"}}
DAY = timedelta(hours=24)
TAG = re.compile(r'^"[^"]+-v(\d+)"$')


@pytest.fixture
def token(make_token: TokenFactory) -> str:
    return make_token("TEN123", "USR456")


@pytest.fixture
def headers(token: str) -> dict[str, str]:
    return trade_headers(token)


@pytest.fixture
def customer(make_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('CUST1', 'example_user')}"}


def version_of(response: Any) -> int:
    found = TAG.match(response.headers["etag"])
    assert found, response.headers.get("etag")
    return int(found[1])


def history_count(db: Database, resource_id: str) -> int:
    with db.read() as session:
        statement = select(ChangeEntry).where(ChangeEntry.resource_id == resource_id)
        return len(session.exec(statement).all())


def trade_count(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(Trade)).all())


def purchase_count(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(StrategyPurchase)).all())


class TestTradeETags:
    def test_reads_creates_and_updates_carry_a_strong_tag_of_the_version(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        created = client.post("/api/v1/trades", json=NEW_TRADE, headers=headers)
        assert created.status_code == 201
        trade_id = created.json()["tradeId"]
        assert created.headers["etag"] == f'"{trade_id}-v1"'
        read = client.get(f"/api/v1/trades/{trade_id}", headers=headers)
        assert read.headers["etag"] == created.headers["etag"]
        updated = client.patch(f"/api/v1/trades/{trade_id}", json={"quantity": 2}, headers=headers)
        assert version_of(updated) == updated.json()["trade"]["version"] == 2

    def test_if_none_match_answers_304_without_a_body(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        url = f"/api/v1/trades/{trade.id}"
        tag = client.get(url, headers=headers).headers["etag"]
        for sent in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            cached = client.get(url, headers={**headers, "If-None-Match": sent})
            assert cached.status_code == 304
            assert cached.content == b""
            assert cached.headers["etag"] == tag
            assert cached.headers["x-request-id"]
        stale = client.get(url, headers={**headers, "If-None-Match": f'"{trade.id}-v0"'})
        assert stale.status_code == 200
        assert stale.json()["tradeId"] == trade.id

    def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        url = f"/api/v1/trades/{trade.id}"
        first = client.get(url, headers=headers).headers["etag"]
        assert client.patch(url, json={"quantity": 2}, headers=headers).status_code == 200
        for sent in (first, f"W/{client.get(url, headers=headers).headers['etag']}", "v2", '"x"'):
            refused = client.patch(url, json={"quantity": 3}, headers={**headers, "If-Match": sent})
            assert_trade_error(refused, 412, "precondition_failed")
        stored = load_trade(db, trade.id)
        assert (stored.quantity, stored.version) == (2, 2)
        assert history_count(db, trade.id) == 2  # create + the one update, no 412s

    def test_a_current_or_any_tag_applies(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        url = f"/api/v1/trades/{trade.id}"
        tag = client.get(url, headers=headers).headers["etag"]
        applied = client.patch(url, json={"quantity": 2}, headers={**headers, "If-Match": tag})
        assert applied.status_code == 200
        assert version_of(applied) == 2
        anything = client.patch(url, json={"quantity": 3}, headers={**headers, "If-Match": "*"})
        assert anything.status_code == 200
        assert load_trade(db, trade.id).version == 3

    def test_if_match_star_on_a_missing_trade_is_404(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        response = client.patch(
            "/api/v1/trades/6f1c2d8e-8d0b-4c1e-9a55-2f5b7d1f0c3a",
            json={"quantity": 3},
            headers={**headers, "If-Match": "*"},
        )
        assert_trade_error(response, 404, "not_found")

    def test_without_if_match_the_last_write_wins(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        url = f"/api/v1/trades/{trade.id}"
        for quantity in (2, 3):
            response = client.patch(url, json={"quantity": quantity}, headers=headers)
            assert response.status_code == 200
        assert load_trade(db, trade.id).quantity == 3


class TestStrategyETags:
    def test_submit_read_and_update_carry_the_tag(
        self, client: Any, customer: dict[str, str]
    ) -> None:
        submitted = client.post(
            "/api/v0/user/example_user/submit-purchase", json=SUBMISSION, headers=customer
        )
        assert submitted.status_code == 201
        purchase_id = submitted.json()["id"]
        assert submitted.headers["etag"] == f'"{purchase_id}-v1"'
        assert (
            client.get(get_url(purchase_id), headers=customer).headers["etag"]
            == (submitted.headers["etag"])
        )
        updated = client.put(update_url(purchase_id), json=OUTPUTS, headers=customer)
        assert updated.headers["etag"] == f'"{purchase_id}-v2"'

    def test_304_and_412_in_the_surfaces_format(
        self, client: Any, db: Database, customer: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        tag = client.get(get_url(purchase.id), headers=customer).headers["etag"]
        cached = client.get(get_url(purchase.id), headers={**customer, "If-None-Match": tag})
        assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", tag)
        applied = client.put(
            update_url(purchase.id), json=OUTPUTS, headers={**customer, "If-Match": tag}
        )
        assert applied.status_code == 200
        refused = client.put(
            update_url(purchase.id),
            json={"outputs": {"result": "late"}},
            headers={**customer, "If-Match": tag},
        )
        assert "changed" in error_of(refused, 412)
        stored = load_strategy_purchase(db, purchase.id)
        assert (stored.version, stored.outputs_json) == (2, '{"result":"ok"}')
        assert history_count(db, purchase.id) == 2

    def test_a_refused_update_writes_no_history(
        self, client: Any, db: Database, customer: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        url = update_url(purchase.id)
        done = {"status": "completed", **OUTPUTS}
        assert client.put(url, json=done, headers=customer).status_code == 200
        conflict = client.put(url, json={"status": "failed", **OUTPUTS}, headers=customer)
        assert conflict.status_code == 409  # rolled back with its history entry
        invalid = client.put(
            url,
            content='{"outputs": {"x": 1e999}}',
            headers={**customer, "Content-Type": "application/json"},
        )
        assert invalid.status_code == 400
        assert history_count(db, purchase.id) == 2


class TestIdempotentCreates:
    def test_a_retry_replays_the_first_response_and_creates_nothing(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        keyed = {**headers, "Idempotency-Key": "order-1"}
        first = client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed)
        assert first.status_code == 201
        assert "idempotent-replayed" not in first.headers
        reordered = dict(reversed(list(NEW_TRADE.items())))  # same request, other formatting
        retry = client.post("/api/v1/trades", json=reordered, headers=keyed)
        assert retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
        for name in ("location", "etag", "content-type"):
            assert retry.headers[name] == first.headers[name]
        assert retry.headers["x-request-id"] != first.headers["x-request-id"]
        assert trade_count(db) == 1
        assert history_count(db, first.json()["tradeId"]) == 1

    def test_the_same_key_with_another_request_is_422(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        keyed = {**headers, "Idempotency-Key": "order-1"}
        assert client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed).status_code == 201
        other = client.post("/api/v1/trades", json={**NEW_TRADE, "quantity": 11}, headers=keyed)
        assert_trade_error(other, 422, "unprocessable")
        other_country = client.post(
            "/api/v1/trades", json=NEW_TRADE, headers={**keyed, "countryCode": "FR"}
        )
        assert_trade_error(other_country, 422, "unprocessable")
        assert trade_count(db) == 1

    def test_refused_requests_do_not_use_up_the_key(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        keyed = {**headers, "Idempotency-Key": "order-1"}
        invalid = client.post("/api/v1/trades", json={**NEW_TRADE, "quantity": -1}, headers=keyed)
        assert_trade_error(invalid, 400, "validation_error")
        forbidden = client.post(
            "/api/v1/trades", json={**NEW_TRADE, "tenantId": "OTHER"}, headers=keyed
        )
        assert_trade_error(forbidden, 403, "forbidden")  # refused by the domain, not stored
        created = client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed)
        assert created.status_code == 201
        assert "idempotent-replayed" not in created.headers
        with db.read() as session:
            rows = session.exec(select(idempotency.IdempotencyKey)).all()
        assert [(r.key, r.state, r.status_code) for r in rows] == [
            ("order-1", idempotency.COMPLETED, 201)
        ]

    def test_a_server_error_releases_the_key(
        self, client: Any, db: Database, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from handlers import trades as handler

        def broken(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("boom")

        keyed = {**headers, "Idempotency-Key": "order-1"}
        with monkeypatch.context() as patch:
            patch.setattr(handler.trades, "create_trade", broken)
            failed = client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed)
        assert_trade_error(failed, 500, "internal_error")
        created = client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed)
        assert created.status_code == 201
        assert "idempotent-replayed" not in created.headers

    def test_a_key_in_flight_is_409_until_it_completes(
        self, client: Any, db: Database, headers: dict[str, str], token: str
    ) -> None:
        with db.read() as session:
            row = find_token(session, hash_token(token))
            assert row is not None
            caller = row.principal()
        print_ = fingerprint("POST", "/api/v1/trades", Headers(headers), NEW_TRADE)
        with db.write() as session:  # as if the first request were still running
            idempotency.claim(
                session, principal=caller, key="order-1", fingerprint=print_, lifetime=DAY
            )
        keyed = {**headers, "Idempotency-Key": "order-1"}
        busy = client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed)
        assert_trade_error(busy, 409, "idempotency_key_in_use")
        assert trade_count(db) == 0
        with db.write() as session:  # the first request fails: its claim is released
            idempotency.release(session, principal=caller, key="order-1")
        assert client.post("/api/v1/trades", json=NEW_TRADE, headers=keyed).status_code == 201

    def test_keys_belong_to_the_caller(
        self, client: Any, db: Database, make_token: TokenFactory
    ) -> None:
        alice = trade_headers(make_token("TEN123", "alice"), user="alice")
        bob = trade_headers(make_token("TEN123", "bob"), user="bob")
        for caller in (alice, bob):
            response = client.post(
                "/api/v1/trades", json=NEW_TRADE, headers={**caller, "Idempotency-Key": "same"}
            )
            assert response.status_code == 201
            assert "idempotent-replayed" not in response.headers
        assert trade_count(db) == 2

    def test_submitting_a_purchase_is_idempotent_too(
        self, client: Any, db: Database, customer: dict[str, str]
    ) -> None:
        url = "/api/v0/user/example_user/submit-purchase"
        keyed = {**customer, "Idempotency-Key": "plan-2025-01-15"}
        first = client.post(url, json=SUBMISSION, headers=keyed)
        retry = client.post(url, json=SUBMISSION, headers=keyed)
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
        other = client.post(url, json={"purchase": SUBMISSION["purchase"] * 2}, headers=keyed)
        assert "Idempotency-Key" in error_of(other, 422)
        assert purchase_count(db) == 1

    def test_login_takes_no_key_so_no_token_is_ever_stored(self, client: Any, db: Database) -> None:
        from tests.factories import make_customer

        make_customer(db)
        credentials = {"email": "customer@example.com", "password": "correct horse battery staple"}
        keyed = {"Idempotency-Key": "login-1"}
        first = client.post("/api/v0/auth/login/", json=credentials, headers=keyed)
        second = client.post("/api/v0/auth/login/", json=credentials, headers=keyed)
        assert first.json()["token"] != second.json()["token"]
        with db.read() as session:
            assert session.exec(select(idempotency.IdempotencyKey)).all() == []

    @pytest.mark.parametrize("key", ["", "k" * 256])
    def test_the_key_is_1_to_255_characters(
        self, client: Any, headers: dict[str, str], key: str
    ) -> None:
        response = client.post(
            "/api/v1/trades", json=NEW_TRADE, headers={**headers, "Idempotency-Key": key}
        )
        assert_trade_error(response, 400, "validation_error", "Idempotency-Key")


class TestTradeHistory:
    def test_create_and_two_updates_are_three_entries(
        self, client: Any, headers: dict[str, str], token: str
    ) -> None:
        created = client.post(
            "/api/v1/trades", json=NEW_TRADE, headers={**headers, "X-Request-Id": "req-create"}
        )
        trade_id = created.json()["tradeId"]
        url = f"/api/v1/trades/{trade_id}"
        client.patch(url, json={"quantity": 20}, headers={**headers, "X-Request-Id": "req-1"})
        client.patch(url, json={"description": "x"}, headers={**headers, "X-Request-Id": "r2"})
        page = client.get(f"{url}/history", headers=headers)
        assert page.status_code == 200
        items = page.json()["items"]
        assert page.json()["nextCursor"] is None
        assert [(e["version"], e["action"], e["requestId"]) for e in items] == [
            (1, "create", "req-create"),
            (2, "update", "req-1"),
            (3, "update", "r2"),
        ]
        create, first, second = items
        assert create["before"] is None
        assert create["after"]["quantity"] == 10
        assert create["after"]["totalAmount"] == 50
        assert (first["before"]["quantity"], first["after"]["quantity"]) == (10, 20)
        assert (first["before"]["totalAmount"], first["after"]["totalAmount"]) == (50, 100)
        assert (second["before"]["description"], second["after"]["description"]) == (None, "x")
        principal = create["principal"]
        assert principal["tenantId"] == "TEN123"
        assert principal["userId"] == "USR456"
        assert isinstance(principal["tokenId"], int)
        assert token not in page.text

    def test_pages_follow_the_cursor(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        for quantity in range(1, 5):
            client.patch(f"/api/v1/trades/{trade.id}", json={"quantity": quantity}, headers=headers)
        seen: list[int] = []
        cursor = None
        while True:
            query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(f"/api/v1/trades/{trade.id}/history{query}", headers=headers).json()
            seen += [e["version"] for e in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == [1, 2, 3, 4, 5]

    @pytest.mark.parametrize("limit", ["0", "101", "x"])
    def test_page_size_is_bounded(
        self, client: Any, db: Database, headers: dict[str, str], limit: str
    ) -> None:
        trade = make_trade(db)
        response = client.get(f"/api/v1/trades/{trade.id}/history?limit={limit}", headers=headers)
        assert_trade_error(response, 400, "validation_error", "limit")

    def test_another_tenants_history_does_not_exist(
        self, client: Any, db: Database, make_token: TokenFactory
    ) -> None:
        trade = make_trade(db, tenant="TEN999")
        response = client.get(
            f"/api/v1/trades/{trade.id}/history", headers=trade_headers(make_token("TEN123"))
        )
        assert_trade_error(response, 404, "not_found")

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_history_cannot_be_written(
        self, client: Any, db: Database, headers: dict[str, str], method: str
    ) -> None:
        trade = make_trade(db)
        response = client.request(method, f"/api/v1/trades/{trade.id}/history", headers=headers)
        assert_trade_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "GET, HEAD"
        assert history_count(db, trade.id) == 1

    def test_a_refused_update_writes_no_history(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        url = f"/api/v1/trades/{trade.id}"
        client.patch(url, json={"quantity": 1}, headers={**headers, "If-Match": '"stale"'})
        client.patch(url, json={"tenantId": "OTHER"}, headers=headers)
        client.patch(url, json={"quantity": -1}, headers=headers)
        assert history_count(db, trade.id) == 1

    def test_a_failing_history_write_rolls_the_update_back(
        self, client: Any, db: Database, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import models.trades

        trade = make_trade(db)

        def broken(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("history unavailable")

        monkeypatch.setattr(models.trades, "record_change", broken)
        response = client.patch(f"/api/v1/trades/{trade.id}", json={"quantity": 7}, headers=headers)
        assert response.status_code == 500
        stored = load_trade(db, trade.id)
        assert (stored.quantity, stored.version) == (1000, 1)


class TestStrategyHistory:
    def test_submission_and_updates_with_limit_offset_pages(
        self, client: Any, customer: dict[str, str]
    ) -> None:
        submitted = client.post(
            "/api/v0/user/example_user/submit-purchase",
            json=SUBMISSION,
            headers={**customer, "X-Request-Id": "submit-1"},
        )
        purchase_id = submitted.json()["id"]
        client.put(update_url(purchase_id), json=OUTPUTS, headers=customer)
        client.put(
            update_url(purchase_id), json={"status": "completed", **OUTPUTS}, headers=customer
        )
        url = f"/api/v0/user/example_user/purchase/{purchase_id}/history"
        first = client.get(f"{url}?limit=2", headers=customer).json()
        assert first["count"] == 3
        assert first["previous"] is None
        assert first["next"].endswith(f"{url}?limit=2&offset=2")
        assert [e["action"] for e in first["results"]] == ["create", "update"]
        create, update = first["results"]
        assert create["request_id"] == "submit-1"
        assert create["before"] is None
        assert create["after"]["status"] == "pending"
        assert create["after"]["purchase"]["bytes"] > 0
        assert create["after"]["outputs"] is None
        assert update["before"]["outputs"] is None
        assert len(update["after"]["outputs"]["sha256"]) == 64
        assert update["principal"] == {
            "tenant_id": "CUST1",
            "user_id": "example_user",
            "token_id": update["principal"]["token_id"],
        }
        last = client.get(f"{url}?limit=2&offset=2", headers=customer).json()
        assert last["next"] is None
        assert last["previous"].endswith(f"{url}?limit=2&offset=0")
        assert [(e["before"]["status"], e["after"]["status"]) for e in last["results"]] == [
            ("pending", "completed")
        ]

    def test_another_customers_history_does_not_exist(
        self, client: Any, db: Database, customer: dict[str, str]
    ) -> None:
        mine = make_strategy_purchase(db)
        theirs = make_strategy_purchase(db, user="someone_else")
        other_tenant = make_strategy_purchase(db, tenant="CUST2")
        for user, purchase in (("someone_else", theirs), ("example_user", other_tenant)):
            url = f"/api/v0/user/{user}/purchase/{purchase.id}/history"
            assert error_of(client.get(url, headers=customer), 404) == "Purchase not found."
        ok = client.get(f"/api/v0/user/example_user/purchase/{mine.id}/history", headers=customer)
        assert ok.status_code == 200

    def test_history_cannot_be_written(
        self, client: Any, db: Database, customer: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        url = f"/api/v0/user/example_user/purchase/{purchase.id}/history"
        for method in ("post", "put", "delete"):
            response = client.request(method, url, headers=customer)
            assert response.status_code == 405
            assert response.json() == {"detail": response.json()["detail"]}


class TestRequestIds:
    @pytest.mark.parametrize("sent", ["a", "trace:1.2_3-4", "x" * 128])
    def test_a_well_formed_id_is_adopted(
        self, client: Any, headers: dict[str, str], sent: str
    ) -> None:
        response = client.get("/api/v1/trades", headers={**headers, "X-Request-Id": sent})
        assert response.headers["x-request-id"] == sent

    @pytest.mark.parametrize("sent", ["", "x" * 129, "bad id", "semi;colon"])
    def test_anything_else_is_replaced(
        self, client: Any, headers: dict[str, str], sent: str
    ) -> None:
        response = client.get("/api/v1/trades", headers={**headers, "X-Request-Id": sent})
        assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["x-request-id"])
