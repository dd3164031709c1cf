"""Trade trackings (trades-families.md K1-K6): the pages' example requests (with a trade of
the tenant where they name one), legs and their two handles, stages, filters, safe writes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.contract import snapshot
from tests.factories import make_tracking, make_trade
from tests.trades.test_trades import assert_trade_error, trade_headers
from tradepost.db import Database

LEG = {
    "trackingId": "TRACK123",
    "origin": "New York, USA",
    "destination": "London, UK",
    "shippingDate": "2023-04-05",
    "trackingProvider": "Global Express",
    "deliveryDate": "2023-04-07",
    "deliveryMode": "Air",
    "finalDestination": True,
    "qualityChecked": True,
    "labellingDetails": "Handle with care",
    "docLinks": [{"name": "Delivery Receipt", "link": "https://example.com/receipt.pdf"}],
}


@pytest.fixture
def headers(make_token: TokenFactory) -> dict[str, str]:
    return trade_headers(make_token("TEN123", "USR456"))


@pytest.fixture
def trade_id(db: Database) -> str:
    return make_trade(db).id


def url(tracking_id: str, tail: str = "") -> str:
    return f"/api/v1/trade-trackings/{tracking_id}{tail}"


class TestCreate:
    def test_k1s_example_starts_a_tracking_at_the_seller_warehouse(
        self, client: Any, headers: dict[str, str], trade_id: str
    ) -> None:
        body = {
            "deliveredQuantity": 100,
            "itenary": [LEG],
            "tradeId": trade_id,
            "userId": "USR456",
            "tenantId": "TEN123",
            "countryCode": "US",
        }
        response = client.post("/api/v1/trade-trackings", headers=headers, json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["message"] == "Trade tracking created successfully."
        assert (created["tradeId"], created["status"], created["deliveredQuantity"]) == (
            trade_id,
            "SELLER_WAREHOUSE",
            100,
        )
        [leg] = created["itenary"]
        assert {k: v for k, v in leg.items() if k != "referenceId"} == LEG
        assert response.headers["location"] == url(created["trackingId"])
        assert response.headers["etag"] == f'"{created["trackingId"]}-v1"'
        read = client.get(url(created["trackingId"]), headers=headers)
        assert read.json() == {k: v for k, v in created.items() if k != "message"}

    @pytest.mark.parametrize("trade", ["TRADE789", "foreign", "deleted"])
    def test_a_trade_that_is_not_the_tenants_is_404_and_nothing_is_created(
        self, client: Any, db: Database, headers: dict[str, str], trade: str
    ) -> None:
        trade_id = {
            "TRADE789": "TRADE789",
            "foreign": make_trade(db, tenant="TEN999").id,
            "deleted": make_trade(db).id,
        }[trade]
        if trade == "deleted":
            client.delete(f"/api/v1/trades/{trade_id}", headers=headers)
        before = snapshot(db)
        response = client.post(
            "/api/v1/trade-trackings", headers=headers, json={"tradeId": trade_id}
        )
        assert_trade_error(response, 404, "not_found")
        assert snapshot(db) == before

    def test_the_trade_is_required_and_the_itinerary_bounded(
        self, client: Any, headers: dict[str, str], trade_id: str
    ) -> None:
        missing = client.post("/api/v1/trade-trackings", headers=headers, json={"itenary": []})
        assert_trade_error(missing, 400, "validation_error", "tradeId")
        too_long = {"tradeId": trade_id, "itenary": [{"origin": "x"}] * 51}
        response = client.post("/api/v1/trade-trackings", headers=headers, json=too_long)
        assert_trade_error(response, 400, "validation_error", "itenary")


class TestReadAndList:
    def test_an_unknown_tracking_is_404_with_the_pages_meaning(
        self, client: Any, headers: dict[str, str]
    ) -> None:
        body = assert_trade_error(client.get(url("TRACK123"), headers=headers), 404, "not_found")
        assert body["message"] == "No trade tracking found with trackingId TRACK123."

    def test_if_none_match_answers_304(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        tracking = make_tracking(db, trade_id)
        response = client.get(url(tracking.id), headers={**headers, "If-None-Match": tracking.etag})
        assert (response.status_code, response.headers["etag"]) == (304, tracking.etag)

    def test_k2s_example_query_is_answered(self, client: Any, headers: dict[str, str]) -> None:
        query = (
            "tradeTrackingSearch=shipment&tradeTrackingDateRange=2020-11-12,2022-11-15"
            "&trackingStatuses=IN_TRANSIT&trackingsByTradeIds=12345,67890&trackingIds=98765"
            "&order=ASC&page=1&limit=10"
        )
        response = client.get(f"/api/v1/trade-trackings?{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "page": 1, "limit": 10, "total": 0}

    def test_each_filter(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        other_trade = make_trade(db).id
        first = make_tracking(db, trade_id)
        second = make_tracking(
            db, other_trade, itenary=[{"trackingId": "DHL-77", "origin": "Shanghai, China"}]
        )
        make_tracking(db, make_trade(db, tenant="TEN999").id, tenant="TEN999")
        client.patch(url(second.id, "/status"), headers=headers, json={"status": "IN_TRANSIT"})
        names = {first.id: "first", second.id: "second"}

        def listed(query: str) -> list[str]:
            response = client.get(f"/api/v1/trade-trackings?{query}", headers=headers)
            assert response.status_code == 200, response.text
            return [names[t["trackingId"]] for t in response.json()["items"]]

        assert listed("") == ["second", "first"]
        assert listed("order=ASC") == ["first", "second"]
        assert listed("tradeTrackingSearch=shanghai") == ["second"]
        assert listed("tradeTrackingSearch=track123") == ["first"]
        assert listed("tradeTrackingSearch=100%25") == []
        assert listed("trackingStatuses=IN_TRANSIT") == ["second"]
        assert listed("trackingStatuses=SELLER_WAREHOUSE,DELIVERED") == ["first"]
        assert listed(f"trackingsByTradeIds={trade_id},12345") == ["first"]
        assert listed(f"trackingIds={second.id}") == ["second"]
        assert listed("tradeTrackingDateRange=2020-11-12,2022-11-15") == []
        assert listed("tradeTrackingDateRange=2020-11-12,2999-12-31") == ["second", "first"]
        paged = client.get("/api/v1/trade-trackings?limit=1&page=2", headers=headers).json()
        assert ([names[t["trackingId"]] for t in paged["items"]], paged["total"]) == (
            ["first"],
            2,
        )


class TestUpdate:
    def test_k4_replaces_the_legs_keeping_a_resent_legs_reference(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        tracking = make_tracking(db, trade_id)
        [kept] = client.get(url(tracking.id), headers=headers).json()["itenary"]
        example = {
            "deliveredQuantity": 100,
            "itenary": [
                {**LEG, "origin": "Shanghai, China", "destination": "San Francisco, USA"},
                {"trackingId": "TRACK999", "origin": "San Francisco, USA"},
            ],
            "tradeId": "TRADE789",  # informational: the tracking stays with its trade
            "userId": "USR456",
            "tenantId": "TEN123",
            "countryCode": "US",
        }
        response = client.patch(url(tracking.id), headers=headers, json=example)
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Trade tracking updated successfully."
        changed = response.json()["tracking"]
        assert (changed["tradeId"], changed["deliveredQuantity"], changed["version"]) == (
            trade_id,
            100,
            2,
        )
        first, second = changed["itenary"]
        assert (first["referenceId"], first["origin"]) == (kept["referenceId"], "Shanghai, China")
        assert second["referenceId"] != kept["referenceId"]

    def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        tracking = make_tracking(db, trade_id)
        before = snapshot(db)
        stale = {**headers, "If-Match": f'"{tracking.id}-v2"'}
        response = client.patch(url(tracking.id), headers=stale, json={"deliveredQuantity": 1})
        assert_trade_error(response, 412, "precondition_failed")
        assert snapshot(db) == before

    def test_an_update_needs_a_field(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        tracking = make_tracking(db, trade_id)
        response = client.patch(url(tracking.id), headers=headers, json={})
        assert_trade_error(response, 400, "validation_error")


class TestStatus:
    def test_k5s_example_verbatim_and_the_stages_forward_only(
        self, client: Any, db: Database, make_token: TokenFactory, trade_id: str
    ) -> None:
        tracking = make_tracking(db, trade_id)
        token = make_token("TEN123", "USR456")
        example = {
            "status": "SELLER_WAREHOUSE",
            "tradeId": "TRADE123",
            "userId": "USER321",
            "tenantId": "TEN456",
            "countryCode": "US",
        }
        before = snapshot(db)
        response = client.patch(
            url(tracking.id, "/status"), headers=trade_headers(token), json=example
        )
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Trade tracking status updated successfully."
        assert snapshot(db) == before  # the current stage again: nothing changes
        # the page's headers are optional: the token's tenant and user act
        bare = {"Authorization": f"Bearer {token}"}
        moved = client.patch(
            url(tracking.id, "/status"), headers=bare, json={"status": "DELIVERED"}
        )
        assert (moved.status_code, moved.json()["tracking"]["status"]) == (200, "DELIVERED")
        back = client.patch(
            url(tracking.id, "/status"), headers=bare, json={"status": "IN_TRANSIT"}
        )
        assert_trade_error(back, 409, "invalid_status_transition")
        history = client.get(url(tracking.id, "/history"), headers=trade_headers(token)).json()
        assert [e["after"]["status"] for e in history["items"]] == ["SELLER_WAREHOUSE", "DELIVERED"]

    def test_headers_that_are_sent_must_still_be_the_tokens(
        self, client: Any, db: Database, make_token: TokenFactory, trade_id: str
    ) -> None:
        tracking = make_tracking(db, trade_id)
        token = make_token("TEN123", "USR456")
        response = client.patch(
            url(tracking.id, "/status"),
            headers={"Authorization": f"Bearer {token}", "tenantId": "TEN456"},
            json={"status": "IN_TRANSIT"},
        )
        assert_trade_error(response, 403, "forbidden")


class TestLegs:
    def test_k6_edits_one_leg_by_its_carrier_id_or_its_reference(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        tracking = make_tracking(
            db,
            trade_id,
            deliveredQuantity=40,
            itenary=[{"trackingId": "TRACK456", "origin": "Tokyo, Japan"}, {"origin": "Osaka"}],
        )
        example = {
            "trackingId": "TRACK456",
            "origin": "Tokyo, Japan",
            "destination": "San Francisco, USA",
            "shippingDate": "2023-05-01",
            "trackingProvider": "Global Express",
            "deliveryDate": "2023-05-10",
            "tradeId": "TRADE123",
            "userId": "USR456",
            "tenantId": "TEN123",
            "countryCode": "US",
        }
        by_carrier = client.patch(
            url(tracking.id, "/reference/TRACK456/itenary"), headers=headers, json=example
        )
        assert by_carrier.status_code == 200, by_carrier.text
        assert by_carrier.json()["message"] == "Trade tracking itinerary updated successfully."
        changed = by_carrier.json()["tracking"]
        first, second = changed["itenary"]
        assert (first["destination"], first["deliveryDate"], changed["deliveredQuantity"]) == (
            "San Francisco, USA",
            "2023-05-10",
            40,
        )
        by_reference = client.patch(
            url(tracking.id, f"/reference/{second['referenceId']}/itenary"),
            headers=headers,
            json={"qualityChecked": True},
        )
        legs = by_reference.json()["tracking"]["itenary"]
        assert [leg["qualityChecked"] for leg in legs] == [None, True]
        assert legs[1]["origin"] == "Osaka"

    def test_an_unknown_leg_is_404_and_a_shared_carrier_id_409(
        self, client: Any, db: Database, headers: dict[str, str], trade_id: str
    ) -> None:
        tracking = make_tracking(
            db, trade_id, itenary=[{"trackingId": "TWICE"}, {"trackingId": "TWICE"}]
        )
        before = snapshot(db)
        unknown = client.patch(
            url(tracking.id, "/reference/TRACK456/itenary"), headers=headers, json={"origin": "x"}
        )
        assert_trade_error(unknown, 404, "not_found")
        shared = client.patch(
            url(tracking.id, "/reference/TWICE/itenary"), headers=headers, json={"origin": "x"}
        )
        assert_trade_error(shared, 409, "ambiguous_leg_reference")
        assert snapshot(db) == before
