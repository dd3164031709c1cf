"""Trade API v1: the reference's other pages (shared/api-docs/trades-real-api.md, T1-T13),
each documented example request sent as a client written from that page sends it.

The update page's own example (T4) is tests/trades/test_trades.py's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.common.history import history_page
from tests.conftest import TokenFactory
from tests.contract import snapshot
from tests.factories import load_trade, make_trade
from tests.trades.test_trades import assert_trade_error, trade_headers
from tradepost.db import Database

CREATE_EXAMPLE_BODY = """{
"productId": "prod123",
"description": "Quality crude oil",
"quantity": 1000,
"indicativeUnitPrice": 54.5,
"totalAmount": 54500,
"productUnitType": "Barrels",
"docLinks": [
{
"name": "Contract",
"link": "http://example.com/contract.pdf"
}
],
"labellingRequirement": "Hazardous Material",
"packagingRequirement": "Reinforced Steel Drums",
"businessId": "BUS789",
"buyerId": "BUY321",
"userId": "USR456",
"tenantId": "TEN123",
"countryCode": "US"
}"""

TESTING_DETAILS_BODY = {
    "provider": "SGS",
    "expectation": "Moisture below 8%",
    "comment": "Sample from every lot",
    "docLinks": [{"name": "Test plan", "link": "https://example.com/test-plan.pdf"}],
    "productSampleDetail": {
        "buyerPortInfo": "Port of Rotterdam",
        "buyerDestinationAddress": "1 Harbour Road, Rotterdam",
        "sellerPortInfo": "Port of Lagos",
        "sellerDestinationAddress": "2 Marina, Lagos",
        "trackingProvider": "DHL",
        "trackingNumber": "1234567890",
        "trackingUrl": "https://example.com/track/1234567890",
        "docLinks": [],
    },
    "testProviderConfig": [
        {
            "label": "Lab",
            "value": "Lagos",
            "required": True,
            "valueType": "string",
            "formType": "input",
            "formOptions": [{"label": "Lagos", "value": "Lagos"}],
        }
    ],
    "productTypeDetails": ["Raw cashew nuts"],
    "usePersonalTestProvider": True,
    "personalTestProviderDetails": {"name": "Ada Test Labs", "email": "lab@example.com"},
}
PAYMENT_DETAILS_BODY = {
    "splits": [
        {"name": "Deposit", "type": "PERCENTAGE", "value": 30},
        {"name": "Balance", "type": "PERCENTAGE", "value": 70},
    ],
    "comment": "30% on signature",
    "docLinks": [{"name": "Invoice", "link": "https://example.com/invoice.pdf"}],
    "userId": "USR456",
    "tenantId": "TEN123",
}
DELIVERY_DETAILS_BODY = {
    "portInfo": "Port of Lagos",
    "originAddress": "2 Marina, Lagos",
    "destinationAddress": "1 Harbour Road, Rotterdam",
    "sateliteWarehouse": "Ikeja",
    "centralWarehouse": "Apapa",
    "shippingDate": "2024-05-01",
    "shippingTerms": "FOB",
    "trackingProvider": "Maersk",
    "trackingNumber": "MSKU1234567",
    "trackingUrl": "https://example.com/track/MSKU1234567",
    "dispatchDate": "2024-04-28",
    "docLinks": [{"name": "Bill of lading", "link": "https://example.com/bol.pdf"}],
    "userId": "USR456",
    "tenantId": "TEN123",
}

# Every change operation under a trade: (path below the trade, a valid body, its message).
CHANGES: dict[str, tuple[str, dict[str, Any] | None, str]] = {
    "updateTrade": ("", {"quantity": 2}, "Trade updated successfully."),
    "updateTradeDocuments": (
        "/documents",
        {"docLinks": [{"name": "Contract", "link": "https://example.com/c.pdf"}]},
        "Trade documents updated successfully.",
    ),
    "updateTradeTestingDetails": (
        "/testing-details",
        TESTING_DETAILS_BODY,
        "Testing details updated successfully.",
    ),
    "updateTradePaymentDetails": (
        "/payment-details",
        PAYMENT_DETAILS_BODY,
        "Payment details updated successfully.",
    ),
    "updateTradeDeliveryDetails": (
        "/delivery-details",
        DELIVERY_DETAILS_BODY,
        "Delivery details updated successfully.",
    ),
    "updateTradeTermsConditions": (
        "/terms-conditions",
        {"termsAndConditions": "Payment within 30 days of delivery."},
        "Terms and conditions updated successfully.",
    ),
    "changeTradeStatus": (
        "/status",
        {"status": "NEGOTIABLE"},
        "Trade status updated successfully.",
    ),
    "terminateTrade": (
        "/terminate",
        {"comment": "The buyer withdrew."},
        "Trade terminated successfully.",
    ),
}


@pytest.fixture
def token(make_token: TokenFactory) -> str:
    return make_token("TEN123", "USR456")


@pytest.fixture
def headers(token: str) -> dict[str, str]:
    return trade_headers(token)


def url_of(trade_id: str, path: str = "") -> str:
    return f"/api/v1/trades/{trade_id}{path}"


def accept_url(trade_id: str, tenant: str = "TEN123", buyer: str = "BUY321") -> str:
    return f"/api/v1/trades/{trade_id}/tenant/{tenant}/buyer/{buyer}/public/accept"


def history(client: Any, headers: dict[str, str], trade_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(url_of(trade_id, "/history"), headers=headers).json()[
        "items"
    ]
    return items


# --- T1 Create Trade ------------------------------------------------------------------------


class TestCreateTrade:
    def test_the_documented_body_with_business_and_buyer_is_created(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/trades",
            content=CREATE_EXAMPLE_BODY,
            headers={"Content-Type": "application/json", **headers},
        )
        assert response.status_code == 201, response.text
        assert response.text.startswith('{"message":')
        body = response.json()
        assert body["message"] == "Trade created successfully."
        assert body["businessId"] == "BUS789"
        assert body["buyerId"] == "BUY321"
        assert body["sellerId"] == "USR456"
        assert body["status"] == "DRAFT"
        assert body["productUnitType"] == "Barrels"
        assert body["totalAmount"] == 54500
        stored = load_trade(db, body["tradeId"])
        assert (stored.business_id, stored.buyer_id, stored.status) == ("BUS789", "BUY321", "DRAFT")
        assert response.headers["etag"] == f'"{body["tradeId"]}-v1"'

    def test_the_created_trade_reads_back_without_the_message(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        created = client.post(
            "/api/v1/trades",
            content=CREATE_EXAMPLE_BODY,
            headers={"Content-Type": "application/json", **headers},
        ).json()
        read = client.get(url_of(created.pop("tradeId")), headers=headers).json()
        assert created.pop("message")
        assert {k: v for k, v in read.items() if k != "tradeId"} == created

    @pytest.mark.parametrize(
        ("sent", "stored"),
        [
            ("Barrels", "Barrels"),
            ("Boxes", "Boxes"),
            ("Grams", "Grams"),
            ("BARRELS", "Barrels"),
            ("METRIC_TONNES", "MetricTonnes"),
            ("CUBIC_FEET", "CubicFeet"),
            ("MetricTonnes", "MetricTonnes"),
        ],
    )
    def test_every_unit_spelling_of_the_pages_is_one_stored_unit(
        self, client: Any, db: Database, headers: dict[str, str], sent: str, stored: str
    ) -> None:
        body = {**json.loads(CREATE_EXAMPLE_BODY), "productUnitType": sent}
        response = client.post("/api/v1/trades", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["productUnitType"] == stored
        assert load_trade(db, response.json()["tradeId"]).product_unit_type == stored

    def test_an_unknown_unit_is_refused(self, client: Any, headers: dict[str, str]) -> None:
        body = {**json.loads(CREATE_EXAMPLE_BODY), "productUnitType": "Buckets"}
        response = client.post("/api/v1/trades", json=body, headers=headers)
        assert_trade_error(response, 400, "validation_error", field="productUnitType")

    def test_the_update_page_refuses_business_and_buyer(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        for name in ("businessId", "buyerId"):
            response = client.patch(url_of(trade.id), json={name: "X1"}, headers=headers)
            assert_trade_error(response, 400, "validation_error", field=name)


# --- T2 Retrieve Trades, T13 negotiations ----------------------------------------------------


class TestRetrieveTrades:
    def test_the_documented_query_is_answered(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, business_id="BUS789")
        query = (
            "tradeSearch=crude&tradeDateRange=2020-11-12,2099-11-15"
            "&tradeStatuses=ACTIVE,CLOSED,DRAFT,TERMINATED"
            f"&tradeByProductIds=prod123&tradeIds={trade.id}&byBusinessIds=BUS789"
            "&order=DESC&page=1&limit=10"
        )
        response = client.get(f"/api/v1/trades?{query}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [t["tradeId"] for t in body["items"]] == [trade.id]
        assert (body["page"], body["limit"], body["total"]) == (1, 10, 1)
        assert body["items"][0]["status"] == "DRAFT"

    @pytest.mark.parametrize(
        ("query", "matches"),
        [
            ("tradeSearch=CRUDE", {"a", "b"}),
            ("tradeSearch=Lagos", {"b"}),
            ("tradeSearch=100%25", set()),
            ("tradeStatuses=ACTIVE", {"b"}),
            ("tradeStatuses=DRAFT,ACTIVE", {"a", "b"}),
            ("tradeByProductIds=pa,zz", {"a"}),
            ("byBusinessIds=BUSB", {"b"}),
            ("tradeDateRange=2000-01-01,2000-12-31", set()),
            ("tradeDateRange=2000-01-01,2999-12-31", {"a", "b"}),
            ("byStates=Lagos", set()),
            ("byCities=Ikeja", set()),
        ],
    )
    def test_each_filter(
        self,
        client: Any,
        db: Database,
        headers: dict[str, str],
        query: str,
        matches: set[str],
    ) -> None:
        a = make_trade(db, product_id="pa")
        b = make_trade(db, product_id="pb", business_id="BUSB", description="Crude from Lagos")
        client.patch(url_of(b.id, "/status"), json={"status": "ACTIVE"}, headers=headers)
        names = {a.id: "a", b.id: "b"}
        response = client.get(f"/api/v1/trades?{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert {names[t["tradeId"]] for t in response.json()["items"]} == matches
        assert response.json()["total"] == len(matches)

    def test_order_and_pages(self, client: Any, db: Database, headers: dict[str, str]) -> None:
        ids = [make_trade(db, product_id=f"p{i}").id for i in range(5)]
        ascending = client.get("/api/v1/trades?order=ASC&limit=2&page=2", headers=headers).json()
        assert [t["tradeId"] for t in ascending["items"]] == ids[2:4]
        assert ascending["total"] == 5
        descending = client.get("/api/v1/trades?order=DESC&limit=2&page=3", headers=headers).json()
        assert [t["tradeId"] for t in descending["items"]] == ids[:1]
        assert descending["nextCursor"] is None
        beyond = client.get("/api/v1/trades?page=9", headers=headers).json()
        assert (beyond["items"], beyond["total"]) == ([], 5)

    def test_a_country_code_header_is_accepted(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        make_trade(db)
        with_country = client.get("/api/v1/trades", headers=headers)
        without = client.get(
            "/api/v1/trades", headers={k: v for k, v in headers.items() if k != "countryCode"}
        )
        assert with_country.status_code == without.status_code == 200
        assert with_country.json()["items"] == without.json()["items"]

    def test_ids_are_taken_in_the_pages_form_and_an_unknown_one_matches_nothing(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        documented = client.get("/api/v1/trades?tradeIds=1001,1002", headers=headers)
        assert documented.status_code == 200, documented.text
        assert (documented.json()["items"], documented.json()["total"]) == ([], 0)
        mixed = client.get(f"/api/v1/trades?tradeIds=1001,{trade.id}", headers=headers)
        assert [t["tradeId"] for t in mixed.json()["items"]] == [trade.id]

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("tradeStatuses=OPEN", "tradeStatuses"),
            ("tradeDateRange=2020-11-12", "tradeDateRange"),
            ("tradeDateRange=2020-11-12,2020-13-01", "tradeDateRange"),
            ("tradeDateRange=0000-01-01,2024-01-01", "tradeDateRange"),  # was a 500
            ("tradeDateRange=2020-01-01,0000-12-31", "tradeDateRange"),
            ("order=UP", "order"),
            ("page=0", "page"),
            ("tradeIds=-1", "tradeIds"),
        ],
    )
    def test_bad_filters_are_named(
        self, client: Any, headers: dict[str, str], query: str, field: str
    ) -> None:
        response = client.get(f"/api/v1/trades?{query}", headers=headers)
        body = assert_trade_error(response, 400, "validation_error")
        assert any(e["field"].startswith(field) for e in body["errors"]), body
        response = client.get(f"/api/v1/trades/negotiations?{query}", headers=headers)
        body = assert_trade_error(response, 400, "validation_error")
        assert any(e["field"].startswith(field) for e in body["errors"]), body


class TestNegotiations:
    DOCUMENTED = (
        "tradeDateRange=2020-11-12,2099-11-15"
        "&productUnitTypes=BARRELS,CUBIC_FEET,GALLONS,GRAMS,KILOGRAMS,LITRES,POUNDS,METRIC_TONNES"
        "&tradeWithSabi=0&tradeInitiatedByBuyer=0&tradeStatuses=DRAFT,NEGOTIABLE"
        "&order=DESC&page=1&limit=10"
    )

    def test_the_documented_query_answers_the_envelope(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        draft = make_trade(db, product_unit_type="Barrels")
        negotiable = make_trade(db, product_unit_type="MetricTonnes", buyer_id="BUY1")
        active = make_trade(db)
        boxes = make_trade(db, product_unit_type="Boxes")
        client.patch(
            url_of(negotiable.id, "/status"), json={"status": "NEGOTIABLE"}, headers=headers
        )
        client.patch(url_of(active.id, "/status"), json={"status": "ACTIVE"}, headers=headers)
        response = client.get(f"/api/v1/trades/negotiations?{self.DOCUMENTED}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["statusCode"], body["errors"]) == (True, 200, [])
        assert body["message"] == "Trade negotiations retrieved successfully"  # the page's
        found = [t["tradeId"] for t in body["data"]["items"]]
        assert found == [negotiable.id, draft.id]  # not ACTIVE, not in Boxes
        assert boxes.id not in found

    @pytest.mark.parametrize(
        ("query", "matches"),
        [
            ("", {"draft", "negotiable"}),
            ("tradeStatuses=NEGOTIABLE", {"negotiable"}),
            ("byBuyerIds=BUY1", {"negotiable"}),
            ("bySellerIds=USR456", {"draft", "negotiable"}),
            ("bySellerIds=SOMEONE", set()),
            ("productUnitTypes=MetricTonnes", {"negotiable"}),
            ("tradeWithSabi=1", set()),
            ("tradeInitiatedByBuyer=1", set()),
            ("tradeByRequestIds=REQ1", set()),
            ("tradeRequestStatuses=PENDING", set()),
        ],
    )
    def test_each_filter(
        self, client: Any, db: Database, headers: dict[str, str], query: str, matches: set[str]
    ) -> None:
        draft = make_trade(db)
        negotiable = make_trade(db, product_unit_type="MetricTonnes", buyer_id="BUY1")
        closed = make_trade(db)
        client.patch(
            url_of(negotiable.id, "/status"), json={"status": "NEGOTIABLE"}, headers=headers
        )
        client.patch(url_of(closed.id, "/terminate"), json={"comment": "x"}, headers=headers)
        names = {draft.id: "draft", negotiable.id: "negotiable", closed.id: "closed"}
        response = client.get(f"/api/v1/trades/negotiations?{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert {names[t["tradeId"]] for t in response.json()["data"]["items"]} == matches

    def test_only_negotiation_statuses_are_filters(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        response = client.get("/api/v1/trades/negotiations?tradeStatuses=ACTIVE", headers=headers)
        assert_trade_error(response, 400, "validation_error")

    def test_other_methods_on_the_path_are_405_not_a_trade_id(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        for method in ("DELETE", "PATCH", "POST"):
            response = client.request(method, "/api/v1/trades/negotiations", headers=headers)
            assert_trade_error(response, 405, "method_not_allowed")
            assert response.headers["allow"] == "GET, HEAD"


# --- T3 Retrieve Trade Details ----------------------------------------------------------------


def test_a_trade_reads_with_status_parties_and_trade_date(
    client: Any, db: Database, headers: dict[str, str]
) -> None:
    trade = make_trade(db, business_id="BUS789", buyer_id="BUY321", product_unit_type="Boxes")
    body = client.get(url_of(trade.id), headers=headers).json()
    assert body["status"] == "DRAFT"
    assert (body["businessId"], body["buyerId"], body["sellerId"]) == ("BUS789", "BUY321", "USR456")
    assert body["tradeDate"] == trade.created_at.date().isoformat()
    assert body["productUnitType"] == "Boxes"
    assert body["countryCode"] == "US"


# --- T5-T9 the sub-resources --------------------------------------------------------------


class TestSubresources:
    def test_documents_with_the_documented_headers_and_body(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        body = {
            "docLinks": [
                {"name": "Updated Contract", "link": "http://example.com/updated-contract.pdf"}
            ],
            "userId": "USR456",
            "tenantId": "TEN123",
            "countryCode": "US",
        }
        response = client.patch(url_of(trade.id, "/documents"), json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Trade documents updated successfully."
        assert load_trade(db, trade.id).doc_links == body["docLinks"]

    def test_testing_details_with_an_api_key_header(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        response = client.patch(
            url_of(trade.id, "/testing-details"),
            json=TESTING_DETAILS_BODY,
            headers={**headers, "apiKey": "key-123"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "message": "Testing details updated successfully.",
            "trade": response.json()["trade"],
        }
        assert load_trade(db, trade.id).testing_details == TESTING_DETAILS_BODY

    @pytest.mark.parametrize(
        ("path", "body", "column"),
        [
            ("/payment-details", PAYMENT_DETAILS_BODY, "payment_details"),
            ("/delivery-details", DELIVERY_DETAILS_BODY, "delivery_details"),
        ],
    )
    def test_payment_and_delivery_store_the_body_without_the_context_fields(
        self,
        client: Any,
        db: Database,
        headers: dict[str, str],
        path: str,
        body: dict[str, Any],
        column: str,
    ) -> None:
        trade = make_trade(db)
        response = client.patch(url_of(trade.id, path), json=body, headers=headers)
        assert response.status_code == 200, response.text
        expected = {k: v for k, v in body.items() if k not in {"userId", "tenantId"}}
        assert getattr(load_trade(db, trade.id), column) == expected
        answered = response.json()["trade"][column.split("_")[0] + "Details"]
        assert answered == expected

    def test_details_merge_field_by_field(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        client.patch(
            url_of(trade.id, "/delivery-details"), json=DELIVERY_DETAILS_BODY, headers=headers
        )
        client.patch(
            url_of(trade.id, "/delivery-details"), json={"shippingTerms": "CIF"}, headers=headers
        )
        stored = load_trade(db, trade.id).delivery_details
        assert stored is not None
        assert stored["shippingTerms"] == "CIF"
        assert stored["portInfo"] == "Port of Lagos"

    def test_terms_and_conditions(self, client: Any, db: Database, headers: dict[str, str]) -> None:
        trade = make_trade(db)
        response = client.patch(
            url_of(trade.id, "/terms-conditions"),
            json={"termsAndConditions": "Payment within 30 days of delivery."},
            headers=headers,
        )
        assert response.json()["message"] == "Terms and conditions updated successfully."
        assert (
            response.json()["trade"]["termsAndConditions"] == "Payment within 30 days of delivery."
        )

    @pytest.mark.parametrize("path", ["/documents", "/payment-details", "/delivery-details"])
    def test_a_body_cannot_name_another_tenant(
        self, client: Any, db: Database, headers: dict[str, str], path: str
    ) -> None:
        trade = make_trade(db)
        body = {"docLinks": []} if path == "/documents" else {"comment": "x"}
        if path == "/delivery-details":
            body = {"portInfo": "x"}
        before = snapshot(db)
        response = client.patch(
            url_of(trade.id, path), json={**body, "tenantId": "TEN999"}, headers=headers
        )
        assert_trade_error(response, 403, "forbidden")
        assert snapshot(db) == before


# --- T10 terminate, T11 delete, the lifecycle ----------------------------------------------


class TestLifecycle:
    def test_terminate_answers_the_comment(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        response = client.patch(
            url_of(trade.id, "/terminate"), json={"comment": "The buyer withdrew."}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["message"], body["comment"]) == (
            "Trade terminated successfully.",
            "The buyer withdrew.",
        )
        assert body["trade"]["status"] == "TERMINATED"
        assert body["trade"]["terminationComment"] == "The buyer withdrew."

    @pytest.mark.parametrize("operation", sorted(CHANGES))
    def test_a_terminated_trade_refuses_every_change(
        self, client: Any, db: Database, headers: dict[str, str], operation: str
    ) -> None:
        trade = make_trade(db)
        client.patch(url_of(trade.id, "/terminate"), json={"comment": "x"}, headers=headers)
        path, body, _message = CHANGES[operation]
        before = snapshot(db)
        response = client.patch(url_of(trade.id, path), json=body, headers=headers)
        error = assert_trade_error(response, 409, "trade_final")
        assert "TERMINATED" in error["message"]
        assert snapshot(db) == before
        assert client.get(url_of(trade.id), headers=headers).status_code == 200

    @pytest.mark.parametrize(
        ("moves", "refused"),
        [
            (["NEGOTIABLE", "DRAFT", "ACTIVE", "CLOSED"], None),
            (["ACTIVE"], "NEGOTIABLE"),
            (["ACTIVE"], "DRAFT"),
            ([], "CLOSED"),
            (["ACTIVE", "CLOSED"], "ACTIVE"),
        ],
    )
    def test_status_moves(
        self,
        client: Any,
        db: Database,
        headers: dict[str, str],
        moves: list[str],
        refused: str | None,
    ) -> None:
        trade = make_trade(db)
        for status in moves:
            response = client.patch(
                url_of(trade.id, "/status"), json={"status": status}, headers=headers
            )
            assert response.status_code == 200, (status, response.text)
            assert response.json()["trade"]["status"] == status
        if refused is not None:
            before = snapshot(db)
            response = client.patch(
                url_of(trade.id, "/status"), json={"status": refused}, headers=headers
            )
            assert response.status_code == 409, response.text
            assert snapshot(db) == before

    def test_a_closed_trade_cannot_be_terminated(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        for status in ("ACTIVE", "CLOSED"):
            client.patch(url_of(trade.id, "/status"), json={"status": status}, headers=headers)
        response = client.patch(
            url_of(trade.id, "/terminate"), json={"comment": "x"}, headers=headers
        )
        assert_trade_error(response, 409, "trade_final")

    def test_delete_answers_the_message_and_the_trade_is_gone(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, buyer_id="BUY321")
        response = client.delete(url_of(trade.id), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"message": "Trade deleted successfully."}
        with db.read() as session:
            entries, _total = history_page(
                session, resource_type="trade", resource_id=trade.id, limit=10
            )
        assert [e.version for e in entries] == [1, 2]
        assert json.loads(entries[-1].after_json)["deletedAt"] is not None
        assert json.loads(entries[0].after_json)["deletedAt"] is None
        before = snapshot(db)
        for path, body, _message in CHANGES.values():
            again = client.patch(url_of(trade.id, path), json=body, headers=headers)
            assert_trade_error(again, 404, "not_found")
        for read in (url_of(trade.id), url_of(trade.id, "/history"), accept_url(trade.id)):
            assert_trade_error(client.get(read, headers=headers), 404, "not_found")
        assert_trade_error(client.delete(url_of(trade.id), headers=headers), 404, "not_found")
        assert client.get("/api/v1/trades", headers=headers).json()["items"] == []
        assert snapshot(db) == before

    def test_every_change_is_recorded_with_an_etag(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        version = 1
        for operation, (path, body, message) in CHANGES.items():
            response = client.patch(url_of(trade.id, path), json=body, headers=headers)
            assert response.status_code == 200, (operation, response.text)
            version += 1
            assert response.json()["message"] == message
            assert response.headers["etag"] == f'"{trade.id}-v{version}"', operation
        entries = history(client, headers, trade.id)
        assert [e["version"] for e in entries] == list(range(1, version + 1))
        assert entries[-1]["after"]["status"] == "TERMINATED"
        assert entries[-1]["before"]["status"] == "NEGOTIABLE"
        assert entries[3]["after"]["testingDetails"] == TESTING_DETAILS_BODY

    @pytest.mark.parametrize("operation", sorted(CHANGES))
    def test_if_match_guards_every_change(
        self, client: Any, db: Database, headers: dict[str, str], operation: str
    ) -> None:
        trade = make_trade(db)
        path, body, _message = CHANGES[operation]
        before = snapshot(db)
        stale = {**headers, "If-Match": f'"{trade.id}-v0"'}
        response = client.patch(url_of(trade.id, path), json=body, headers=stale)
        assert_trade_error(response, 412, "precondition_failed")
        assert snapshot(db) == before
        current = {**headers, "If-Match": f'"{trade.id}-v1"'}
        assert client.patch(url_of(trade.id, path), json=body, headers=current).status_code == 200

    def test_a_colleague_may_not_delete(
        self, client: Any, db: Database, make_token: TokenFactory
    ) -> None:
        trade = make_trade(db, user="USR456")
        colleague = trade_headers(make_token("TEN123", "USR777"), user="USR777")
        response = client.delete(url_of(trade.id), headers=colleague)
        assert_trade_error(response, 403, "forbidden")
        assert load_trade(db, trade.id).deleted_at is None


# --- T12 the buyer's public accept link ----------------------------------------------------


class TestAcceptLink:
    def test_the_buyer_accepts_without_a_token(self, client: Any, db: Database) -> None:
        trade = make_trade(db, buyer_id="BUY321")
        response = client.get(accept_url(trade.id))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "message": "Trade accepted successfully.",
            "tradeId": trade.id,
            "tenantId": "TEN123",
            "buyerId": "BUY321",
            "status": "Accepted",
        }
        assert load_trade(db, trade.id).status == "Accepted"

    def test_a_head_request_changes_nothing(self, client: Any, db: Database) -> None:
        """Issue 26 (11): HEAD ran the GET's handler and accepted the trade."""
        trade = make_trade(db, buyer_id="BUY321")
        before = snapshot(db)
        response = client.head(accept_url(trade.id))
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert snapshot(db) == before
        assert load_trade(db, trade.id).status == "DRAFT"
        assert client.get(accept_url(trade.id)).status_code == 200

    def test_a_second_call_answers_the_same_and_changes_nothing(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, buyer_id="BUY321")
        first = client.get(accept_url(trade.id))
        before = snapshot(db)
        second = client.get(accept_url(trade.id))
        assert second.status_code == 200
        assert second.json() == first.json()
        assert snapshot(db) == before
        entries = history(client, headers, trade.id)
        assert [e["action"] for e in entries] == ["create", "update"]
        assert entries[1]["principal"] == {
            "tenantId": "TEN123",
            "userId": "BUY321",
            "actor": "public link",
        }

    @pytest.mark.parametrize(
        ("tenant", "buyer", "status"),
        [
            ("TEN999", "BUY321", 404),
            ("TEN123", "BUY999", 403),
            ("TEN123", "USR456", 403),
        ],
    )
    def test_only_the_link_naming_the_trades_tenant_and_buyer(
        self, client: Any, db: Database, tenant: str, buyer: str, status: int
    ) -> None:
        trade = make_trade(db, buyer_id="BUY321")
        before = snapshot(db)
        response = client.get(accept_url(trade.id, tenant, buyer))
        assert_trade_error(response, status, "forbidden" if status == 403 else "not_found")
        assert snapshot(db) == before

    def test_a_trade_without_a_buyer_cannot_be_accepted(self, client: Any, db: Database) -> None:
        trade = make_trade(db)
        assert_trade_error(client.get(accept_url(trade.id)), 403, "forbidden")
        assert load_trade(db, trade.id).status == "DRAFT"

    def test_an_active_or_terminated_trade_is_not_accepted(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        active = make_trade(db, buyer_id="BUY321")
        client.patch(url_of(active.id, "/status"), json={"status": "ACTIVE"}, headers=headers)
        terminated = make_trade(db, buyer_id="BUY321")
        client.patch(url_of(terminated.id, "/terminate"), json={"comment": "x"}, headers=headers)
        before = snapshot(db)
        assert_trade_error(client.get(accept_url(active.id)), 409, "invalid_status_transition")
        assert_trade_error(client.get(accept_url(terminated.id)), 409, "trade_final")
        assert snapshot(db) == before

    def test_an_accepted_trade_moves_on_to_active(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db, buyer_id="BUY321")
        client.get(accept_url(trade.id))
        response = client.patch(
            url_of(trade.id, "/status"), json={"status": "ACTIVE"}, headers=headers
        )
        assert response.json()["trade"]["status"] == "ACTIVE"
