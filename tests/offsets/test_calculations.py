"""Carbon calculations, calculations with pricing and carbon comparison through the app,
as the SQUAKE docs and the official Ruby client send them (api-docs/offsets-calculations.md).
"""

from __future__ import annotations

import base64
import statistics
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.factories import TEST_PRODUCT, make_product
from tests.offsets.test_purchases import REQUEST_ID, assert_error
from tradepost.db import Database

CAR_BASIC = {
    "type": "car",
    "methodology": "BASIC",
    "distance_in_km": 245.6,
    "co2_grams_per_km": 120,
    "external_reference": "car-1",
}
GEM_ITEM_KEYS = {
    "carbon_quantity",
    "carbon_unit",
    "distance",
    "distance_unit",
    "external_reference",
    "type",
    "methodology",
}


def flight(origin: str, destination: str, **more: Any) -> dict[str, Any]:
    return {"type": "flight", "methodology": "ICAO", "origin": origin,
            "destination": destination, **more}  # fmt: skip


@pytest.fixture
def key(make_token: TokenFactory) -> str:
    return make_token("CLIENT1")


@pytest.fixture
def gem(key: str) -> dict[str, str]:
    """What the official client sends on every call."""
    return {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "*/*",
        "User-Agent": "Ruby",
    }


def basic(user: str, password: str = "") -> dict[str, str]:
    """``curl -u KEY:``, as the docs' examples authenticate."""
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}", "Content-Type": "application/json"}


def calculate(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v2/calculations", json=body, headers=headers)


# --- POST /v2/calculations -------------------------------------------------------------


def test_the_official_clients_request(client: Any, gem: dict[str, str]) -> None:
    """``Squake::Calculation.create``: exactly these three keys; numeric quantity, no items."""
    items = [flight("BER", "SIN", booking_class="economy", number_of_travellers=2,
                    aircraft_type="350", external_reference="booking-reference")]  # fmt: skip
    response = client.post(
        "/v2/calculations",
        json={"items": items, "carbon_unit": "gram", "expand": []},
        headers={**gem, "X-Request-Id": "gem-request-1"},
    )
    assert response.status_code == 200, response.text
    assert REQUEST_ID.match(response.headers["squake-request-id"])
    answer = response.json()
    assert set(answer) == {"carbon_quantity", "carbon_unit"}
    assert answer["carbon_unit"] == "gram"
    assert isinstance(answer["carbon_quantity"], int)
    assert 650_000 <= answer["carbon_quantity"] <= 2_800_000  # ICAO, 2 travellers


def test_the_docs_car_example_is_exact(client: Any, gem: dict[str, str]) -> None:
    response = calculate(client, gem, items=[CAR_BASIC], expand=["items"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["carbon_quantity"] == 29472
    assert answer["carbon_unit"] == "gram"  # the default
    [item] = answer["items"]
    assert set(item) == GEM_ITEM_KEYS
    assert item == {"carbon_quantity": 29472, "carbon_unit": "gram", "distance": 245.6,
                    "distance_unit": "kilometer", "external_reference": "car-1",
                    "type": "car", "methodology": "BASIC"}  # fmt: skip


@pytest.mark.parametrize(
    ("carbon_unit", "distance_unit", "quantity", "distance"),
    [
        ("kilogram", "meter", "29.472", "245600"),
        ("tonne", "mile", "0.029472", "152.609"),
        ("gram", "nautical_mile", "29472", "132.613"),
    ],
)
def test_units(
    client: Any,
    gem: dict[str, str],
    carbon_unit: str,
    distance_unit: str,
    quantity: str,
    distance: str,
) -> None:
    response = calculate(client, gem, items=[CAR_BASIC], expand=["items"],
                         carbon_unit=carbon_unit, distance_unit=distance_unit)  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    assert Decimal(str(answer["carbon_quantity"])) == Decimal(quantity)
    [item] = answer["items"]
    assert Decimal(str(item["carbon_quantity"])) == Decimal(quantity)
    assert Decimal(str(item["distance"])) == Decimal(distance)
    assert (item["carbon_unit"], item["distance_unit"]) == (carbon_unit, distance_unit)


def test_a_trip_in_total_and_per_item(client: Any, gem: dict[str, str]) -> None:
    items = [
        {"type": "flight", "methodology": "DEFRA", "routing": "BER-FRA-JFK",
         "booking_class": "business", "external_reference": "out"},
        {"type": "hotel", "methodology": "DEFRA", "country": "US", "number_of_nights": 3,
         "external_reference": "stay"},
        {"type": "train", "origin": "JFK", "destination": "WAS", "external_reference": "rail"},
        {"type": "private_jet", "methodology": "SQUAKE", "origin": "LFPB",
         "destination": "EGGW", "identifier": "P180", "identifier_kind": "ICAO"},
    ]  # fmt: skip
    response = calculate(client, gem, items=items, expand=["items", "legs"], carbon_unit="kilogram")
    assert response.status_code == 200, response.text
    answer = response.json()
    results = answer["items"]
    assert [r["external_reference"] for r in results] == ["out", "stay", "rail", None]
    assert sum(Decimal(str(r["carbon_quantity"])) for r in results) == Decimal(
        str(answer["carbon_quantity"])
    )
    flight_result, hotel, rail, jet = results
    assert [(leg["origin"], leg["destination"]) for leg in flight_result["legs"]] == [
        ("BER", "FRA"),
        ("FRA", "JFK"),
    ]
    assert hotel["distance"] == 0
    assert hotel["carbon_quantity"] == pytest.approx(3 * 16.1)
    assert (rail["methodology"], "legs" in rail) == ("DEFRA", False)  # the default methodology
    assert len(jet["legs"]) == 1


def test_audit_for_in_both_documented_forms(client: Any, gem: dict[str, str]) -> None:
    for audit_for in ("entity_123", {"legal_name": "Example Travel GmbH",
                                     "external_id": "travel@example.com"}):  # fmt: skip
        item = {**CAR_BASIC, "audit": True, "methodology_version": "2024"}
        response = calculate(client, gem, items=[item], audit_for=audit_for, expand=["items"])
        assert response.status_code == 200, response.text
        assert set(response.json()["items"][0]) == GEM_ITEM_KEYS  # no audit_id


@pytest.mark.parametrize(
    ("items", "status", "code", "attribute"),
    [
        ([flight("BER", "FRA"), flight("XQZ", "JFK")], 400, "field_validation_error",
         "items[1].origin"),
        ([flight("LHR", "EGLL")], 400, "field_validation_error", "items[0].destination"),
        ([{"type": "ferry", "methodology": "ADEME"}], 400, "invalid_type", "items[0].type"),
        ([{"type": "flight", "methodology": "TIM", "origin": "BER", "destination": "FRA"}],
         400, "invalid_methodology", "items[0].methodology"),
        ([{**flight("BER", "JFK"), "routing": "BER-FRA-JFK"}], 400, "invalid_params",
         "items[0].routing"),
        ([{**flight("BER", "FRA"), "number_of_travelers": 0}], 400, "field_validation_error",
         None),
        ([{**CAR_BASIC, "distance_in_km": -5}], 400, "field_validation_error", None),
        ([{**CAR_BASIC, "distance_in_km": 1e9}], 400, "field_validation_error", None),
        ([{"type": "hotel", "methodology": "DEFRA", "country": "XX", "number_of_nights": 1}],
         400, "field_validation_error", "items[0].country"),
        ([CAR_BASIC] * 501, 400, "field_validation_error", None),
        ([{"type": "accommodation", "methodology": "SQUAKE", "country": "DE",
           "number_of_nights": 2, "sauna": True}], 400, "invalid_type", "items[0].type"),
        ([{**CAR_BASIC, "wheels": 4}], 400, "field_validation_error", None),
        ([], 400, "field_validation_error", None),
    ],
)  # fmt: skip
def test_bad_items_are_named(
    client: Any,
    gem: dict[str, str],
    items: list[dict[str, Any]],
    status: int,
    code: str,
    attribute: str | None,
) -> None:
    response = calculate(client, gem, items=items)
    assert response.status_code == status, response.text
    first = response.json()[0]
    assert first["code"] == code
    assert first["detail"]
    if attribute is not None:
        assert first["source"]["attribute"] == attribute
    else:
        assert "items" in first["detail"]


def test_a_wrong_unit_is_refused(client: Any, gem: dict[str, str]) -> None:
    response = calculate(client, gem, items=[CAR_BASIC], distance_unit="furlong")
    assert_error(response, 400, "field_validation_error")
    assert "distance_unit" in response.json()[0]["detail"]


def test_a_hundred_items_take_well_under_50_ms(client: Any, gem: dict[str, str]) -> None:
    airports = ["BER", "FRA", "JFK", "LHR", "SIN", "CDG", "LAX", "NRT", "SYD", "GRU", "DXB"]
    pairs = list(zip(airports * 10, airports[1:] * 10, strict=False))[:100]
    items = [flight(a, b, number_of_travelers=1 + i % 3) for i, (a, b) in enumerate(pairs)]
    body = {"items": items, "carbon_unit": "kilogram", "expand": ["items"]}
    assert calculate(client, gem, **body).status_code == 200  # warm
    durations = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.post("/v2/calculations", json=body, headers=gem)
        durations.append(time.perf_counter() - started)
        assert response.status_code == 200
    assert len(response.json()["items"]) == 100
    assert statistics.median(durations) < 0.050, durations


# --- HTTP Basic beside Bearer on /v2 -----------------------------------------------------


def test_basic_auth_with_the_key_as_user_name(client: Any, key: str) -> None:
    response = calculate(client, basic(key), items=[CAR_BASIC])
    assert response.status_code == 200, response.text
    assert response.json()["carbon_quantity"] == 29472
    assert client.get("/v2/purchases", headers=basic(key)).status_code == 200  # all of /v2


@pytest.mark.parametrize(
    "headers",
    [
        basic("tp_not_a_key"),
        {"Content-Type": "application/json"},
        {"Authorization": "Basic !!!", "Content-Type": "application/json"},
    ],
)
def test_basic_auth_with_a_wrong_key_is_401(client: Any, headers: dict[str, str]) -> None:
    assert_error(calculate(client, headers, items=[CAR_BASIC]), 401, "not_authorized")


def test_basic_auth_needs_an_empty_password(client: Any, key: str) -> None:
    response = calculate(client, basic(key, "secret"), items=[CAR_BASIC])
    assert_error(response, 401, "not_authorized")


def test_basic_auth_is_for_the_offsets_surface_only(client: Any, make_token: TokenFactory) -> None:
    token = make_token("TEN123", "USR456")
    headers = {**basic(token), "tenantId": "TEN123", "userId": "USR456"}
    assert client.get("/api/v1/trades", headers=headers).status_code == 401


# --- POST /v2/calculations-with-pricing --------------------------------------------------


@pytest.fixture
def product(db: Database) -> str:
    make_product(db, prices={"EUR": 1500, "USD": 1650})  # per tonne, in cents
    return TEST_PRODUCT


def test_the_official_clients_quote_is_a_pricing_to_buy(
    client: Any, gem: dict[str, str], product: str
) -> None:
    """``Squake::CalculationWithPricing.quote``, then ``Squake::Purchase.create``."""
    body = {"items": [flight("LON", "JFK", booking_class="economy", external_reference="t-1")],
            "product": product, "currency": "EUR", "carbon_unit": "gram", "expand": [],
            "payment_link_return_url": None}  # fmt: skip
    response = client.post("/v2/calculations-with-pricing", json=body, headers=gem)
    assert response.status_code == 200, response.text
    pricing = response.json()
    assert set(pricing) == {"id", "valid_until", "carbon_quantity", "carbon_unit", "currency",
                            "total", "price", "product"}  # fmt: skip
    grams = calculate(client, gem, items=body["items"]).json()["carbon_quantity"]
    assert pricing["carbon_quantity"] == grams
    assert (pricing["carbon_unit"], pricing["currency"], pricing["product"]) == (
        "gram",
        "EUR",
        product,
    )
    quoted = client.get(
        "/v2/pricing",
        params={"product": product, "carbon_quantity": grams, "carbon_unit": "gram",
                "currency": "EUR"},
        headers=gem,
    ).json()  # fmt: skip
    assert pricing["total"] == quoted["total"]
    assert pricing["total"] == -(-grams * 1500 // 1_000_000)  # rounded up to the cent
    purchase = client.post(
        "/v2/purchases",
        json={"pricing": pricing["id"], "confirmation_document": None,
              "certificate_document": None, "metadata": None,
              "external_reference": "trip-order-1", "expand": []},
        headers=gem,
    )  # fmt: skip
    assert purchase.status_code == 201, purchase.text
    bought = purchase.json()
    assert (bought["carbon_quantity"], bought["total"]) == (grams, pricing["total"])


def test_a_priced_calculation_with_items_and_objects(
    client: Any, gem: dict[str, str], product: str
) -> None:
    body = {"items": [CAR_BASIC, {**CAR_BASIC, "external_reference": "car-2"}],
            "product": product, "currency": "USD", "carbon_unit": "kilogram",
            "expand": ["items", "items.pricing", "price", "product"],
            "payment_method": "stripe",
            "payment_link_return_url": "https://example.com/back"}  # fmt: skip
    response = client.post("/v2/calculations-with-pricing", json=body, headers=gem)
    assert response.status_code == 200, response.text
    pricing = response.json()
    assert Decimal(str(pricing["carbon_quantity"])) == Decimal("58.944")
    assert pricing["price"]["currency"] == "USD"
    assert pricing["product"]["id"] == product
    assert pricing["payment_link"].endswith(f"?t={pricing['id']}")
    first, second = pricing["items"]
    assert set(first) == {*GEM_ITEM_KEYS, "pricing"}
    assert first["pricing"] != second["pricing"] != pricing["id"]
    alone = client.post(
        "/v2/purchases", json={"pricing": first["pricing"]}, headers=gem
    ).json()  # each item's quote is buyable on its own
    assert Decimal(str(alone["carbon_quantity"])) == Decimal("29.472")


def test_items_only_when_asked_for(client: Any, gem: dict[str, str], product: str) -> None:
    body = {"items": [CAR_BASIC], "product": product, "expand": ["items"],
            "payment_method": None}  # fmt: skip
    [item] = client.post("/v2/calculations-with-pricing", json=body, headers=gem).json()["items"]
    assert set(item) == GEM_ITEM_KEYS


def test_pricing_an_unknown_product_is_no_price_found(client: Any, gem: dict[str, str]) -> None:
    body = {"items": [CAR_BASIC], "product": "product_nothing", "currency": "EUR"}
    response = client.post("/v2/calculations-with-pricing", json=body, headers=gem)
    assert_error(response, 400, "no_price_found", "product")


def test_pricing_nothing_is_refused(client: Any, gem: dict[str, str], product: str) -> None:
    body = {"items": [{**CAR_BASIC, "co2_grams_per_km": 0}], "product": product}
    response = client.post("/v2/calculations-with-pricing", json=body, headers=gem)
    assert_error(response, 400, "field_validation_error", "items")


def test_pricing_bad_items_is_the_calculations_error(
    client: Any, gem: dict[str, str], product: str
) -> None:
    body = {"items": [{"type": "accommodation"}], "product": product}
    response = client.post("/v2/calculations-with-pricing", json=body, headers=gem)
    assert_error(response, 400, "invalid_type", "items[0].type")


# --- POST /v2/carbon-comparison ----------------------------------------------------------


def test_the_docs_comparison_example(client: Any, gem: dict[str, str]) -> None:
    body = {"carbon_quantity": 2000, "carbon_unit": "tonne",
            "items": [{"metric": "annual_usage", "comparison_unit": "cars"}]}  # fmt: skip
    response = client.post("/v2/carbon-comparison", json=body, headers=gem)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["carbon_quantity"], answer["carbon_unit"]) == (2000, "tonne")
    [item] = answer["items"]
    assert (item["metric"], item["comparison_unit"]) == ("annual_usage", "cars")
    assert item["amount"] == pytest.approx(2000 / 4.6, rel=1e-5)  # ~435


def test_the_unit_is_chosen_when_left_out(client: Any, gem: dict[str, str]) -> None:
    body = {"carbon_quantity": 1, "carbon_unit": "kilogram",
            "items": [{"metric": "annual_usage"}, {"metric": "equivalent"},
                      {"metric": "sequestration", "comparison_unit": None}]}  # fmt: skip
    items = client.post("/v2/carbon-comparison", json=body, headers=gem).json()["items"]
    assert [i["comparison_unit"] for i in items] == [
        "cars",  # every annual usage is far below 1: the nearest to the range
        "smartphones_charged",  # 121.7 charges
        "tree_seedlings_grown_10_years",
    ]
    assert items[1]["amount"] == pytest.approx(0.001 / 8.22e-6, rel=1e-5)


def test_a_unit_of_another_metric_is_named(client: Any, gem: dict[str, str]) -> None:
    body = {"carbon_quantity": 5, "carbon_unit": "tonne",
            "items": [{"metric": "annual_usage"}, {"metric": "sequestration",
                                                   "comparison_unit": "cars"}]}  # fmt: skip
    response = client.post("/v2/carbon-comparison", json=body, headers=gem)
    assert_error(response, 400, "field_validation_error", "items[1].comparison_unit")
