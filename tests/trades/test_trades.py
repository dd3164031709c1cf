"""Trade API v1, as documented in "Update Trade Details" (shared/api-docs/004_...)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import func, select

from models.trades.trades import Trade
from tests.conftest import TokenFactory
from tests.factories import load_trade, make_trade
from tradepost.db import Database

DOCUMENT_EXAMPLE_BODY = """{
"productId": "newProd123",
"description": "Updated quality crude oil",
"quantity": 1500,
"indicativeUnitPrice": 55,
"totalAmount": 82500,
"productUnitType": "Barrels",
"docLinks": [
{
"name": "Updated Contract",
"link": "http://example.com/updated-contract.pdf"
}
],
"labellingRequirement": "Updated Hazardous Material",
"packagingRequirement": "Updated Reinforced Steel Drums",
"userId": "USR456",
"tenantId": "TEN123",
"countryCode": "US"
}"""


def trade_headers(
    token: str, tenant: str = "TEN123", user: str = "USR456", country: str = "US"
) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "tenantId": tenant,
        "userId": user,
        "countryCode": country,
    }


@pytest.fixture
def token(make_token: TokenFactory) -> str:
    return make_token("TEN123", "USR456")


@pytest.fixture
def headers(token: str) -> dict[str, str]:
    return trade_headers(token)


def assert_trade_error(
    response: Any, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "errors", "requestId"}
    assert body["code"] == code
    assert body["requestId"] == response.headers["x-request-id"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


class TestDocumentExample:
    def test_the_documented_curl_request_succeeds_verbatim(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        response = client.patch(
            f"/api/v1/trades/{trade.id}",
            content=DOCUMENT_EXAMPLE_BODY,
            headers={"Content-Type": "application/json", **headers},
        )
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Trade updated successfully."
        stored = load_trade(db, trade.id)
        assert stored.product_id == "newProd123"
        assert stored.quantity == 1500
        assert stored.indicative_unit_price == 55
        assert stored.total_amount == 82500
        assert stored.doc_links == [
            {"name": "Updated Contract", "link": "http://example.com/updated-contract.pdf"}
        ]
        assert stored.labelling_requirement == "Updated Hazardous Material"
        assert stored.packaging_requirement == "Updated Reinforced Steel Drums"
        assert stored.version == 2

    def test_the_response_includes_the_updated_trade(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        response = client.patch(
            f"/api/v1/trades/{trade.id}", json={"description": "x"}, headers=headers
        )
        body = response.json()
        assert body["trade"]["tradeId"] == trade.id
        assert body["trade"]["description"] == "x"
        assert body["trade"]["productId"] == "prod123"


class TestCreate:
    def test_creates_a_trade_for_the_header_tenant_and_user(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/trades",
            json={
                "productId": "p1",
                "quantity": 1000,
                "indicativeUnitPrice": 54.5,
                "productUnitType": "Barrels",
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        trade = response.json()
        assert response.headers["location"] == f"/api/v1/trades/{trade['tradeId']}"
        assert trade["tenantId"] == "TEN123"
        assert trade["userId"] == "USR456"
        assert trade["countryCode"] == "US"
        assert trade["totalAmount"] == 54500
        assert trade["version"] == 1
        assert trade["docLinks"] == []
        assert trade.pop("message") == "Trade created successfully."
        assert client.get(response.headers["location"], headers=headers).json() == trade

    @pytest.mark.parametrize(
        ("number", "field"),
        [("1e-400", "quantity"), ("1e101", "quantity"), ("0.5e-324", "indicativeUnitPrice")],
    )
    def test_numbers_too_long_written_out_are_refused_by_name(
        self, client: Any, db: Database, headers: dict[str, str], number: str, field: str
    ) -> None:
        """Issue 26 (18): a quantity of 1e-400 was taken and answered as 402 digits.
        Beyond a double's range now: refused, naming the field."""
        values = {"quantity": "1000", "indicativeUnitPrice": "54.5", field: number}
        body = (
            '{"productId": "p1", "productUnitType": "Barrels", '
            f'"quantity": {values["quantity"]}, '
            f'"indicativeUnitPrice": {values["indicativeUnitPrice"]}}}'
        )
        response = client.post(
            "/api/v1/trades", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        errors = assert_trade_error(response, 400, "validation_error", field)["errors"]
        assert "out of range" in errors[0]["message"]
        with db.read() as session:
            assert session.exec(select(func.count()).select_from(Trade)).one() == 0

    def test_required_fields_are_named(self, client: Any, headers: dict[str, str]) -> None:
        response = client.post("/api/v1/trades", json={"productId": "p1"}, headers=headers)
        body = assert_trade_error(response, 400, "validation_error")
        missing = {e["field"] for e in body["errors"]}
        assert missing == {"quantity", "indicativeUnitPrice", "productUnitType"}

    def test_body_cannot_name_another_tenant(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/trades",
            json={
                "productId": "p1",
                "quantity": 1,
                "indicativeUnitPrice": 1,
                "productUnitType": "Units",
                "tenantId": "OTHER",
            },
            headers=headers,
        )
        assert_trade_error(response, 403, "forbidden")
        assert client.get("/api/v1/trades", headers=headers).json()["items"] == []


class TestRead:
    def test_reads_a_trade_of_the_tenant(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, quantity=Decimal("82500.10"))
        response = client.get(f"/api/v1/trades/{trade.id}", headers=headers)
        assert response.status_code == 200
        assert response.json()["quantity"] == 82500.1
        assert response.json()["tradeId"] == trade.id

    def test_another_tenants_trade_does_not_exist(
        self, client: Any, db: Database, make_token: TokenFactory
    ) -> None:
        trade = make_trade(db, tenant="TEN123")
        other = trade_headers(make_token("TEN999", "USR1"), tenant="TEN999", user="USR1")
        response = client.get(f"/api/v1/trades/{trade.id}", headers=other)
        assert_trade_error(response, 404, "not_found")

    def test_unknown_and_malformed_ids(self, client: Any, headers: dict[str, str]) -> None:
        missing = client.get("/api/v1/trades/6f1c2d8e-8d0b-4c1e-9a55-2f5b7d1f0c3a", headers=headers)
        assert_trade_error(missing, 404, "not_found")
        malformed = client.get("/api/v1/trades/not-a-uuid", headers=headers)
        assert_trade_error(malformed, 400, "validation_error", field="tradeId")


class TestList:
    def test_newest_first_in_pages(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        ids = [make_trade(db, product_id=f"p{i}").id for i in range(5)]
        first = client.get("/api/v1/trades?limit=2", headers=headers).json()
        assert [t["tradeId"] for t in first["items"]] == ids[::-1][:2]
        assert first["nextCursor"] == ids[3]
        second = client.get(
            f"/api/v1/trades?limit=2&cursor={first['nextCursor']}", headers=headers
        ).json()
        assert [t["tradeId"] for t in second["items"]] == ids[::-1][2:4]
        last = client.get(
            f"/api/v1/trades?limit=2&cursor={second['nextCursor']}", headers=headers
        ).json()
        assert [t["tradeId"] for t in last["items"]] == ids[:1]
        assert last["nextCursor"] is None

    def test_only_the_tenants_trades(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        mine = make_trade(db, tenant="TEN123")
        theirs = make_trade(db, tenant="TEN999")
        listed = client.get("/api/v1/trades", headers=headers).json()["items"]
        assert [t["tradeId"] for t in listed] == [mine.id]
        cursor = client.get(f"/api/v1/trades?cursor={theirs.id}", headers=headers)
        assert_trade_error(cursor, 404, "not_found")

    @pytest.mark.parametrize("limit", ["0", "101", "ten"])
    def test_page_size_is_bounded(self, client: Any, headers: dict[str, str], limit: str) -> None:
        response = client.get(f"/api/v1/trades?limit={limit}", headers=headers)
        assert_trade_error(response, 400, "validation_error", field="limit")

    def test_unknown_query_parameters_are_refused(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        response = client.get("/api/v1/trades?sort=desc", headers=headers)
        assert_trade_error(response, 400, "validation_error", field="sort")


class TestUpdateSemantics:
    def test_omitted_fields_are_untouched(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        client.patch(f"/api/v1/trades/{trade.id}", json={"description": "new"}, headers=headers)
        stored = load_trade(db, trade.id)
        assert stored.description == "new"
        assert stored.product_id == trade.product_id
        assert stored.doc_links == trade.doc_links
        assert stored.quantity == trade.quantity

    def test_quantity_change_recomputes_the_total(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, quantity=Decimal("1000"), indicative_unit_price=Decimal("54.5"))
        body = client.patch(
            f"/api/v1/trades/{trade.id}", json={"quantity": 3}, headers=headers
        ).json()
        assert body["trade"]["totalAmount"] == 163.5

    def test_a_sent_total_is_stored_as_sent(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        body = client.patch(
            f"/api/v1/trades/{trade.id}", json={"quantity": 3, "totalAmount": 150}, headers=headers
        ).json()
        assert body["trade"]["totalAmount"] == 150

    def test_total_rounds_half_even_to_cents(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        body = client.patch(
            f"/api/v1/trades/{trade.id}",
            json={"quantity": 1, "indicativeUnitPrice": 0.125},
            headers=headers,
        ).json()
        assert body["trade"]["totalAmount"] == 0.12

    def test_money_keeps_every_digit(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        response = client.patch(
            f"/api/v1/trades/{trade.id}",
            content=b'{"quantity": 3, "indicativeUnitPrice": 0.1, '
            b'"totalAmount": 123456789012.3456789}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 200
        assert '"totalAmount":123456789012.3456789' in response.text
        assert load_trade(db, trade.id).total_amount == Decimal("123456789012.3456789")
        again = client.patch(f"/api/v1/trades/{trade.id}", json={"quantity": 3}, headers=headers)
        assert '"totalAmount":0.3,' in again.text  # 3 x 0.1, not 0.30000000000000004

    def test_82500_10_round_trips_exactly(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        client.patch(
            f"/api/v1/trades/{trade.id}",
            content=b'{"totalAmount": 82500.10}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert load_trade(db, trade.id).total_amount == Decimal("82500.10")
        raw = client.get(f"/api/v1/trades/{trade.id}", headers=headers).text
        assert '"totalAmount":82500.1,' in raw

    def test_tenant_wide_token_may_reassign_the_responsible_user(
        self, client: Any, db: Database, make_token: TokenFactory
    ) -> None:
        trade = make_trade(db, user="USR456")
        admin = trade_headers(make_token("TEN123", kind="trades"), user="USR789")
        response = client.patch(
            f"/api/v1/trades/{trade.id}", json={"userId": "USR789"}, headers=admin
        )
        assert response.status_code == 200
        assert load_trade(db, trade.id).user_id == "USR789"


class TestUpdateValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, ""),
            ({"quantity": -1}, "quantity"),
            ({"indicativeUnitPrice": "55"}, "indicativeUnitPrice"),
            ({"totalAmount": None}, "totalAmount"),
            ({"productUnitType": "Buckets"}, "productUnitType"),
            ({"docLinks": [{"name": "c", "link": "ftp://example.com/c.pdf"}]}, "docLinks[0].link"),
            ({"docLinks": [{"name": "c"}]}, "docLinks[0].link"),
            (
                {"docLinks": [{"name": "c", "link": "https://x.io", "extra": 1}]},
                "docLinks[0].extra",
            ),
            ({"productId": ""}, "productId"),
            ({"description": "a\u0000b"}, "description"),
            ({"countryCode": "XX"}, "countryCode"),
            ({"tradeId": "abc"}, "tradeId"),
            ({"version": 7}, "version"),
        ],
    )
    def test_bad_bodies_are_refused_and_change_nothing(
        self, client: Any, db: Database, headers: dict[str, str], body: dict[str, Any], field: str
    ) -> None:
        trade = make_trade(db)
        response = client.patch(f"/api/v1/trades/{trade.id}", json=body, headers=headers)
        assert_trade_error(response, 400, "validation_error", field=field)
        assert load_trade(db, trade.id).version == 1

    @pytest.mark.parametrize(
        "raw",
        [
            b"{",
            b'{"quantity": NaN}',
            b'{"quantity": 1, "quantity": 2}',
            b"\xff\xfe",
            b'{"quantity": 1e999}',
            b"[]",
        ],
    )
    def test_malformed_json_is_refused(
        self, client: Any, db: Database, headers: dict[str, str], raw: bytes
    ) -> None:
        trade = make_trade(db)
        response = client.patch(
            f"/api/v1/trades/{trade.id}",
            content=raw,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert_trade_error(response, 400, "validation_error")
        assert load_trade(db, trade.id).version == 1

    def test_content_type_must_be_json(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        as_text = client.patch(
            f"/api/v1/trades/{trade.id}",
            content=b'{"quantity": 1}',
            headers={**headers, "Content-Type": "text/plain"},
        )
        assert_trade_error(as_text, 415, "unsupported_media_type")
        untyped = client.patch(
            f"/api/v1/trades/{trade.id}", content=b'{"quantity": 1}', headers=headers
        )
        assert_trade_error(untyped, 415, "unsupported_media_type")
        assert load_trade(db, trade.id).version == 1

    @pytest.mark.parametrize("missing", ["tenantId", "userId", "countryCode"])
    def test_documented_headers_are_required(
        self, client: Any, db: Database, headers: dict[str, str], missing: str
    ) -> None:
        trade = make_trade(db)
        partial = {k: v for k, v in headers.items() if k != missing}
        response = client.patch(f"/api/v1/trades/{trade.id}", json={"quantity": 1}, headers=partial)
        body = assert_trade_error(response, 400, "validation_error", field=missing)
        assert body["errors"][0]["location"] == "header"

    def test_header_names_are_case_insensitive(self, client: Any, db: Database, token: str) -> None:
        trade = make_trade(db)
        shouting = {
            "authorization": f"Bearer {token}",
            "TENANTID": "TEN123",
            "USERID": "USR456",
            "COUNTRYCODE": "US",
        }
        response = client.patch(
            f"/api/v1/trades/{trade.id}", json={"quantity": 1}, headers=shouting
        )
        assert response.status_code == 200, response.text


class TestUpdatePermissions:
    def test_no_token(self, client: Any, db: Database, headers: dict[str, str]) -> None:
        trade = make_trade(db)
        anonymous = {k: v for k, v in headers.items() if k != "Authorization"}
        response = client.patch(
            f"/api/v1/trades/{trade.id}", json={"quantity": 1}, headers=anonymous
        )
        assert_trade_error(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_invalid_token(self, client: Any, db: Database, headers: dict[str, str]) -> None:
        trade = make_trade(db)
        response = client.patch(
            f"/api/v1/trades/{trade.id}",
            json={"quantity": 1},
            headers={**headers, "Authorization": "Bearer tp_nope"},
        )
        assert_trade_error(response, 401, "invalid_token")
        assert load_trade(db, trade.id).version == 1

    def test_expired_token(self, client: Any, db: Database, make_token: TokenFactory) -> None:
        from datetime import timedelta

        from models.common.types import utcnow

        trade = make_trade(db)
        expired = make_token("TEN123", "USR456", expires_at=utcnow() - timedelta(seconds=1))
        response = client.patch(
            f"/api/v1/trades/{trade.id}", json={"quantity": 1}, headers=trade_headers(expired)
        )
        assert_trade_error(response, 401, "token_expired")

    def test_header_tenant_must_be_the_tokens(self, client: Any, db: Database, token: str) -> None:
        trade = make_trade(db, tenant="TEN999")
        response = client.patch(
            f"/api/v1/trades/{trade.id}",
            json={"quantity": 1},
            headers=trade_headers(token, tenant="TEN999"),
        )
        assert_trade_error(response, 403, "forbidden")
        assert load_trade(db, trade.id).version == 1

    def test_header_user_must_be_the_tokens(self, client: Any, db: Database, token: str) -> None:
        trade = make_trade(db, user="USR777")
        response = client.patch(
            f"/api/v1/trades/{trade.id}",
            json={"quantity": 1},
            headers=trade_headers(token, user="USR777"),
        )
        assert_trade_error(response, 403, "forbidden")
        assert load_trade(db, trade.id).version == 1

    @pytest.mark.parametrize(
        "body", [{"tenantId": "TEN999"}, {"userId": "USR777"}, {"countryCode": "DE"}]
    )
    def test_body_cannot_move_the_trade(
        self, client: Any, db: Database, headers: dict[str, str], body: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        response = client.patch(f"/api/v1/trades/{trade.id}", json=body, headers=headers)
        assert_trade_error(response, 403, "forbidden")
        stored = load_trade(db, trade.id)
        assert (stored.tenant_id, stored.user_id, stored.country_code, stored.version) == (
            "TEN123",
            "USR456",
            "US",
            1,
        )

    def test_another_users_trade_is_forbidden(
        self, client: Any, db: Database, make_token: TokenFactory
    ) -> None:
        trade = make_trade(db, user="USR456")
        colleague = trade_headers(make_token("TEN123", "USR777"), user="USR777")
        assert client.get(f"/api/v1/trades/{trade.id}", headers=colleague).status_code == 200
        response = client.patch(
            f"/api/v1/trades/{trade.id}", json={"quantity": 1}, headers=colleague
        )
        body = assert_trade_error(response, 403, "forbidden")
        assert body["message"] == "The user does not have permission to update the trade."
        assert load_trade(db, trade.id).version == 1

    def test_another_tenants_trade_is_not_found(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, tenant="TEN999")
        response = client.patch(f"/api/v1/trades/{trade.id}", json={"quantity": 1}, headers=headers)
        body = assert_trade_error(response, 404, "not_found")
        assert "TEN999" not in json.dumps(body)
        assert load_trade(db, trade.id).version == 1


class TestProtocol:
    def test_405_lists_every_method_of_the_path(self, client: Any, headers: dict[str, str]) -> None:
        response = client.post(
            "/api/v1/trades/6f1c2d8e-8d0b-4c1e-9a55-2f5b7d1f0c3a", headers=headers
        )
        assert_trade_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"

    def test_request_id_is_echoed_or_generated(self, client: Any, headers: dict[str, str]) -> None:
        echoed = client.get("/api/v1/trades", headers={**headers, "X-Request-Id": "client-id-1234"})
        assert echoed.headers["x-request-id"] == "client-id-1234"
        generated = client.get("/api/v1/trades", headers={**headers, "X-Request-Id": "bad id!"})
        assert generated.headers["x-request-id"] not in {"", "bad id!"}
