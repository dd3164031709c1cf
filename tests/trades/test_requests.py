"""Trade requests (trades-families.md R1-R3): the pages' example requests, the approval,
tenancy, safe writes and history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.contract import snapshot
from tests.factories import make_trade, make_trade_request
from tests.trades.test_trades import assert_trade_error, trade_headers
from tradepost.db import Database

# R1's example body, verbatim (its identity fields name no header of the page).
R1_EXAMPLE = """{
"productId": "prd123",
"requestId": "req456",
"quantity": 100,
"testingRequired": true,
"productSpecification": "High quality",
"termsAndConditions": "Standard terms",
"docLinks": [
{
"name": "Specification Document",
"link": "http://example.com/specification"
}
],
"businessId": "bus789",
"userId": "usr456",
"sellers": [
{
"firstName": "Jane",
"lastName": "Doe",
"username": "janedoe",
"phone": "1234567890",
"quantity": 100,
"country": {
"name": "CountryName",
"code": "CNC",
"currency": "USD"
},
"productUnitType": "Barrels",
"docLinks": [
{
"name": "Contract Document",
"link": "http://example.com/contract"
}
]
}
],
"tenantId": "tenant123",
"countryCode": "CNC"
}"""


@pytest.fixture
def headers(make_token: TokenFactory) -> dict[str, str]:
    return trade_headers(make_token("TEN123", "USR456"))


def create(client: Any, headers: dict[str, str], body: str = R1_EXAMPLE, **extra: str) -> Any:
    sent = {**headers, "Content-Type": "application/json", **extra}
    return client.post("/api/trade-requests", content=body, headers=sent)


class TestCreateAndRead:
    def test_the_pages_example_creates_a_pending_request_kept_under_its_request_id(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        response = create(client, {**headers, "countryCode": "CNC"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["status"], body["statusCode"], body["errors"]) == (True, 201, [])
        assert body["message"] == "Trade request created successfully."
        data = body["data"]
        assert (data["requestId"], data["status"], data["tradeId"]) == ("req456", "PENDING", None)
        # the body's identity is informational: the request is the headers' tenant's
        assert (data["tenantId"], data["userId"], data["countryCode"]) == (
            "TEN123",
            "USR456",
            "CNC",
        )
        assert data["sellers"][0]["country"] == {
            "name": "CountryName",
            "code": "CNC",
            "currency": "USD",
        }
        assert response.headers["location"] == "/api/trade-requests/req456"
        assert response.headers["etag"] == '"req456-v1"'

    def test_r2_reads_it_in_the_envelope_with_the_pages_message(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        create(client, headers)
        response = client.get("/api/trade-requests/req456", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["statusCode"], body["errors"]) == (True, 200, [])
        assert body["message"] == "Request processed successfully"
        assert body["data"]["productSpecification"] == "High quality"
        assert body["data"]["sellers"][0]["productUnitType"] == "Barrels"
        unchanged = client.get(
            "/api/trade-requests/req456",
            headers={**headers, "If-None-Match": response.headers["etag"]},
        )
        assert (unchanged.status_code, unchanged.content) == (304, b"")

    def test_without_a_request_id_one_is_made_and_capitals_units_are_answered_in_words(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/trade-requests",
            headers=headers,
            json={"sellers": [{"username": "janedoe", "productUnitType": "METRIC_TONNES"}]},
        )
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert len(data["requestId"]) == 36
        assert data["sellers"] == [{"username": "janedoe", "productUnitType": "MetricTonnes"}]

    def test_a_request_id_in_use_is_409_and_changes_nothing(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        create(client, headers)
        before = snapshot(db)
        assert_trade_error(create(client, headers), 409, "trade_request_exists")
        assert snapshot(db) == before

    def test_tenants_use_request_ids_independently(
        self, client: Any, make_token: TokenFactory, headers: dict[str, str]
    ) -> None:
        other = trade_headers(make_token("TEN999", "bob"), tenant="TEN999", user="bob")
        assert create(client, headers).status_code == 201
        assert create(client, other).status_code == 201
        mine = client.get("/api/trade-requests/req456", headers=headers).json()["data"]
        theirs = client.get("/api/trade-requests/req456", headers=other).json()["data"]
        assert (mine["tenantId"], theirs["tenantId"]) == ("TEN123", "TEN999")
        mine_history = client.get("/api/trade-requests/req456/history", headers=headers).json()
        assert [e["after"]["tenantId"] for e in mine_history["items"]] == ["TEN123"]

    def test_an_unknown_request_is_404(self, client: Any, headers: dict[str, str]) -> None:
        response = client.get("/api/trade-requests/req999", headers=headers)
        assert_trade_error(response, 404, "not_found")

    def test_a_retried_idempotency_key_replays_the_creation(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        first = create(client, headers, **{"Idempotency-Key": "k-1"})
        before = snapshot(db)
        again = create(client, headers, **{"Idempotency-Key": "k-1"})
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["idempotent-replayed"] == "true"
        assert snapshot(db) == before


class TestApproval:
    def test_r3s_example_accepts_the_request_with_the_trade(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        create(client, headers)
        trade = make_trade(db)
        example = {
            "tradeId": trade.id,
            "status": "ACCEPTED",
            "comment": "Approval granted",
            "userId": "USR456",
            "tenantId": "TEN123",
            "countryCode": "US",
        }
        url = "/api/trade-requests/approval-status/req456"
        response = client.post(url, headers=headers, json=example)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["message"] == "Trade request approval status updated successfully."
        assert (body["data"]["status"], body["data"]["tradeId"], body["data"]["comment"]) == (
            "ACCEPTED",
            trade.id,
            "Approval granted",
        )
        # the same answer again changes nothing; another answer is 409
        before = snapshot(db)
        assert client.post(url, headers=headers, json=example).status_code == 201
        assert snapshot(db) == before
        rejected = client.post(url, headers=headers, json={**example, "status": "REJECTED"})
        assert_trade_error(rejected, 409, "trade_request_decided")
        assert snapshot(db) == before
        history = client.get("/api/trade-requests/req456/history", headers=headers).json()
        assert [(e["version"], e["after"]["status"]) for e in history["items"]] == [
            (1, "PENDING"),
            (2, "ACCEPTED"),
        ]

    @pytest.mark.parametrize("trade", ["trade123", "foreign"])
    def test_a_trade_that_is_not_the_tenants_is_404(
        self, client: Any, db: Database, headers: dict[str, str], trade: str
    ) -> None:
        make_trade_request(db, user="USR456", requestId="req456")
        trade_id = make_trade(db, tenant="TEN999").id if trade == "foreign" else trade
        before = snapshot(db)
        response = client.post(
            "/api/trade-requests/approval-status/req456",
            headers=headers,
            json={"tradeId": trade_id, "status": "ACCEPTED"},
        )
        body = assert_trade_error(response, 404, "not_found")
        assert body["message"] == f"No trade found with tradeId {trade_id}."
        assert snapshot(db) == before

    def test_a_stale_if_match_is_412(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        make_trade_request(db, requestId="req456")
        trade = make_trade(db)
        response = client.post(
            "/api/trade-requests/approval-status/req456",
            headers={**headers, "If-Match": '"req456-v9"'},
            json={"tradeId": trade.id, "status": "REJECTED"},
        )
        assert_trade_error(response, 412, "precondition_failed")
        current = client.post(
            "/api/trade-requests/approval-status/req456",
            headers={**headers, "If-Match": '"req456-v1"'},
            json={"tradeId": trade.id, "status": "REJECTED"},
        )
        assert current.status_code == 201, current.text
        assert current.headers["etag"] == '"req456-v2"'

    def test_status_and_trade_are_required_and_named(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        url = "/api/trade-requests/approval-status/req456"
        missing = client.post(url, headers=headers, json={"status": "ACCEPTED"})
        assert_trade_error(missing, 400, "validation_error", "tradeId")
        wrong = client.post(url, headers=headers, json={"tradeId": "t", "status": "MAYBE"})
        assert_trade_error(wrong, 400, "validation_error", "status")
