"""Carbon-offset API v2 as its official client (the squake-ruby gem) uses it: pricing,
products, purchases and files, with the gem's recorded requests sent verbatim.

The recordings (gem ``spec/fixtures/vcr_cassettes``, sandbox 2023-2025) and the docs are
summarised in ``api-docs/offsets-real-api.md``. The catalogue here holds the recorded
product ``product_026c41`` at its recorded price (12.31 EUR per tonne since 2023-10-16).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from models.common.types import utcnow
from models.offsets import catalogue as offset_catalogue
from tests.conftest import TokenFactory
from tests.factories import load_offset_purchase
from tests.offsets.test_purchases import REQUEST_ID, assert_error
from tradepost.db import Database

RECORDED_PRODUCT = "product_026c41"
RECORDED_TITLE = "Water Filtration and Improved Cook Stoves in Guatemala"


def gem_headers(token: str) -> dict[str, str]:
    """What the gem sends on every call, GETs and body-less POSTs included."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept-Encoding": "gzip;q=1.0,deflate;q=0.6,identity;q=0.3",
        "Accept": "*/*",
        "User-Agent": "Ruby",
    }


@pytest.fixture
def gem(make_token: TokenFactory) -> dict[str, str]:
    return gem_headers(make_token("CLIENT1"))


@pytest.fixture
def catalogue(db: Database) -> None:
    with db.write() as session:
        offset_catalogue.create_product(
            session,
            product_id=RECORDED_PRODUCT,
            title=RECORDED_TITLE,
            description="The project distributes water filters and stoves.",
            details={
                "locations": [{"country": "GT", "sub_region": None, "region": None}],
                "categories": [{"code": "clean_water", "title": "Clean Water"}],
                "certifications": ["Gold Standard VER"],
                "sdgs": [1, 3, 6, 7, 8, 12, 13, 15],
                "impact_types": [{"code": "avoidance", "title": "Avoidance"}],
            },
            default=True,
        )
        offset_catalogue.add_price(
            session,
            product_id=RECORDED_PRODUCT,
            currency="EUR",
            unit_amount=1231,
            valid_from=date(2023, 10, 16),
        )
        offset_catalogue.create_product(
            session,
            product_id="product_N7TnHY",
            title="Mangrove restoration",
            description="Replants mangroves.",
            details={"categories": [{"code": "blue_carbon", "title": "Blue Carbon"}]},
        )
        offset_catalogue.add_price(
            session,
            product_id="product_N7TnHY",
            currency="EUR",
            unit_amount=11269,
            valid_from=date(2024, 1, 1),
        )


def two_weeks_ahead() -> str:
    return (utcnow() + timedelta(days=14)).date().isoformat()


def assert_success(response: Any) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert REQUEST_ID.match(response.headers["squake-request-id"])
    assert response.headers["x-request-id"] == response.headers["squake-request-id"]
    return response.json()


# GET /v2/pricing, as recorded


@pytest.mark.usefixtures("catalogue")
def test_recorded_pricing_by_carbon_quantity(client: Any, gem: dict[str, str]) -> None:
    body = assert_success(
        client.get(
            "/v2/pricing?carbon_quantity=1000&carbon_unit=kilogram&currency=EUR"
            "&expand=%5B%5D&product=product_026c41",
            headers=gem,
        )
    )
    assert body["carbon_quantity"] == 1000.0
    assert (body["carbon_unit"], body["currency"], body["total"]) == ("kilogram", "EUR", 1231)
    assert body["product"] == RECORDED_PRODUCT
    assert body["price"].startswith("price_")
    assert body["valid_until"] == two_weeks_ahead()
    assert "payment_link" not in body


@pytest.mark.usefixtures("catalogue")
def test_recorded_pricing_by_fixed_total(client: Any, gem: dict[str, str]) -> None:
    body = assert_success(
        client.get(
            "/v2/pricing?carbon_unit=gram&currency=EUR&expand=%5B%5D&fixed_total=1000"
            "&product=product_026c41",
            headers=gem,
        )
    )
    # 10.00 EUR at 12.31 EUR per tonne: 812347.68 g, recorded as 812348
    assert (body["carbon_quantity"], body["carbon_unit"], body["total"]) == (812348, "gram", 1000)
    assert body["product"] == RECORDED_PRODUCT


@pytest.mark.usefixtures("catalogue")
def test_recorded_pricing_of_an_unknown_product_is_no_price_found(
    client: Any, gem: dict[str, str]
) -> None:
    response = client.get(
        "/v2/pricing?carbon_unit=gram&currency=EUR&expand=%5B%5D&fixed_total=1000&product=invalid",
        headers=gem,
    )
    assert_error(response, 400, "no_price_found", "product")


@pytest.mark.usefixtures("catalogue")
def test_recorded_pricing_with_expanded_price_and_product(client: Any, gem: dict[str, str]) -> None:
    body = assert_success(
        client.get(
            "/v2/pricing?carbon_unit=gram&currency=EUR&expand%5B%5D=price&expand%5B%5D=product"
            "&fixed_total=1000&product=product_026c41",
            headers=gem,
        )
    )
    price = body["price"]
    assert (
        price.items()
        >= {
            "product": RECORDED_PRODUCT,
            "unit_amount": 1231,
            "valid_from": "2023-10-16",
            "carbon_unit": "tonne",
            "currency": "EUR",
        }.items()
    )
    assert price["id"].startswith("price_")
    product = body["product"]
    assert (
        product.items()
        >= {
            "id": RECORDED_PRODUCT,
            "title": RECORDED_TITLE,
            "locations": [{"country": "GT", "sub_region": None, "region": None}],
            "categories": [{"code": "clean_water", "title": "Clean Water"}],
            "certifications": ["Gold Standard VER"],
            "sdgs": [1, 3, 6, 7, 8, 12, 13, 15],
        }.items()
    )
    assert product["description"]
    only_price = client.get(
        "/v2/pricing?carbon_quantity=1&expand%5B%5D=price&product=product_026c41", headers=gem
    ).json()
    assert isinstance(only_price["price"], dict)
    assert only_price["product"] == RECORDED_PRODUCT


@pytest.mark.usefixtures("catalogue")
def test_recorded_pricing_with_stripe_has_a_payment_link(client: Any, gem: dict[str, str]) -> None:
    body = assert_success(
        client.get(
            "/v2/pricing?carbon_unit=gram&currency=EUR&fixed_total=1000&payment_method=stripe"
            "&product=product_N7TnHY",
            headers=gem,
        )
    )
    assert body["payment_link"] == f"https://checkout.example.com/pay?t={body['id']}"
    assert (body["total"], body["product"]) == (1000, "product_N7TnHY")
    assert body["carbon_quantity"] == 88739  # 10.00 EUR at 112.69 EUR per tonne: 88739.02 g


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("legacy", ["expand=%5B%5D", "expand=%5b%5d"])
def test_the_old_gems_empty_expand_is_no_parameter(
    client: Any, gem: dict[str, str], legacy: str
) -> None:
    body = assert_success(client.get(f"/v2/pricing?carbon_quantity=1&{legacy}", headers=gem))
    assert (body["price"], body["product"]) == (body["price"], RECORDED_PRODUCT)
    assert isinstance(body["price"], str)
    other = client.get("/v2/pricing?carbon_quantity=1&expand=price", headers=gem)
    assert_error(other, 400, "field_validation_error", "expand")  # only `[]` is the old form


# Pricing rules


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    "query",
    ["carbon_unit=gram", "carbon_quantity=1&fixed_total=100"],
    ids=["neither", "both"],
)
def test_pricing_takes_either_a_quantity_or_a_fixed_total(
    client: Any, gem: dict[str, str], query: str
) -> None:
    response = client.get(f"/v2/pricing?{query}", headers=gem)
    assert_error(response, 400, "field_validation_error", "carbon_quantity")


@pytest.mark.usefixtures("catalogue")
def test_pricing_without_a_product_uses_the_default_product(
    client: Any, gem: dict[str, str]
) -> None:
    body = assert_success(client.get("/v2/pricing?carbon_quantity=2&currency=EUR", headers=gem))
    assert (body["product"], body["total"], body["carbon_unit"]) == (
        RECORDED_PRODUCT,
        2462,
        "tonne",
    )


@pytest.mark.usefixtures("catalogue")
def test_pricing_in_a_currency_without_a_price_is_no_price_found(
    client: Any, gem: dict[str, str]
) -> None:
    response = client.get("/v2/pricing?carbon_quantity=1&currency=USD", headers=gem)
    assert_error(response, 400, "no_price_found", "currency")


@pytest.mark.usefixtures("catalogue")
def test_prices_have_validity_periods(client: Any, db: Database, gem: dict[str, str]) -> None:
    today = utcnow().date()
    with db.write() as session:
        offset_catalogue.add_price(
            session,
            product_id=RECORDED_PRODUCT,
            currency="EUR",
            unit_amount=2000,
            valid_from=today + timedelta(days=1),
        )
        offset_catalogue.add_price(
            session,
            product_id=RECORDED_PRODUCT,
            currency="USD",
            unit_amount=1400,
            valid_from=today - timedelta(days=30),
            valid_until=today,
        )
    query = "/v2/pricing?carbon_quantity=1&product=product_026c41&currency="
    assert client.get(query + "EUR", headers=gem).json()["total"] == 1231  # not yet 2000
    assert_error(client.get(query + "USD", headers=gem), 400, "no_price_found")  # ended


# Purchases, as the gem makes them


def gem_purchase_body(pricing: str, reference: str) -> dict[str, Any]:
    """``Squake::Purchase.create(pricing:)``: every argument, unset ones as null."""
    return {
        "pricing": pricing,
        "confirmation_document": None,
        "certificate_document": None,
        "metadata": None,
        "external_reference": reference,
        "expand": [],
    }


@pytest.mark.usefixtures("catalogue")
def test_the_gems_flow_quote_buy_twice_retrieve_cancel(
    client: Any, db: Database, gem: dict[str, str]
) -> None:
    quote = assert_success(
        client.get(
            "/v2/pricing?carbon_quantity=1000&carbon_unit=kilogram&currency=EUR"
            "&product=product_026c41",
            headers=gem,
        )
    )
    reference = str(uuid.uuid4())
    first = client.post(
        "/v2/purchases", json=gem_purchase_body(quote["id"], reference), headers=gem
    )
    assert first.status_code == 201, first.text
    purchase = first.json()
    assert (
        purchase.items()
        >= {
            "files": [],
            "payment_method": "batch_settlement",
            "state": "reserved",
            "metadata": {},
            "carbon_quantity": 1000,
            "carbon_unit": "kilogram",
            "total": 1231,
            "currency": "EUR",
            "external_reference": reference,
        }.items()
    )
    assert first.headers["x-request-id"] == first.headers["squake-request-id"]
    retry = client.post(
        "/v2/purchases", json=gem_purchase_body(quote["id"], reference), headers=gem
    )
    assert (retry.status_code, retry.json()["id"]) == (200, purchase["id"])
    second = client.post(
        "/v2/purchases", json=gem_purchase_body(quote["id"], str(uuid.uuid4())), headers=gem
    )
    assert second.status_code == 201, second.text  # one quote, several purchases
    assert second.json()["id"] != purchase["id"]
    stored = load_offset_purchase(db, purchase["id"])
    assert (stored.product_id, stored.price_id) == (RECORDED_PRODUCT, quote["price"])

    read = assert_success(client.get(f"/v2/purchases/{purchase['id']}", headers=gem))
    assert read["id"] == purchase["id"]
    assert_error(client.get("/v2/purchases/purchase_unknown1", headers=gem), 404, "not_found")
    cancelled = assert_success(client.post(f"/v2/purchases/{purchase['id']}/cancel", headers=gem))
    assert cancelled["state"] == "canceled"
    assert_error(
        client.post("/v2/purchases/purchase_unknown1/cancel", headers=gem), 404, "not_found"
    )


@pytest.mark.usefixtures("catalogue")
def test_a_stripe_quote_makes_stripe_purchases(client: Any, gem: dict[str, str]) -> None:
    quote = client.get(
        "/v2/pricing?fixed_total=5000&currency=EUR&payment_method=stripe"
        "&payment_link_return_url=https%3A%2F%2Fshop.example%2Fdone",
        headers=gem,
    ).json()
    created = client.post("/v2/purchases", json={"pricing": quote["id"]}, headers=gem)
    assert created.status_code == 201, created.text
    purchase = created.json()
    assert (purchase["payment_method"], purchase["state"]) == ("stripe", "payment_initiated")
    assert purchase["checkout_page"]["return_url"] == "https://shop.example/done"


# Files


@pytest.mark.usefixtures("catalogue")
def test_files_are_typed_pdf_with_their_purpose(client: Any, gem: dict[str, str]) -> None:
    quote = client.get("/v2/pricing?carbon_quantity=1", headers=gem).json()
    body = {
        **gem_purchase_body(quote["id"], "order-files-1"),
        "certificate_document": {"full_name": "Ada Lovelace", "flags": ["with_attribution"]},
    }
    created = client.post("/v2/purchases", json=body, headers=gem).json()
    expanded = assert_success(
        client.get(f"/v2/purchases/{created['id']}?expand%5B%5D=files", headers=gem)
    )
    [file] = expanded["files"]
    assert file == assert_success(client.get(f"/v2/files/{file['id']}", headers=gem))
    assert file.keys() == {
        "id",
        "filename",
        "purpose",
        "size",
        "type",
        "download_url",
        "notification",
    }
    assert (file["type"], file["purpose"], file["notification"]) == (
        "pdf",
        "certificate_document",
        None,
    )
    listed = client.get("/v2/purchases?expand%5B%5D=files", headers=gem).json()
    assert listed["data"][0]["files"][0]["type"] == "pdf"


# Products


@pytest.mark.usefixtures("catalogue")
def test_recorded_product_read(client: Any, gem: dict[str, str]) -> None:
    product = assert_success(client.get("/v2/products/product_026c41?locale=en", headers=gem))
    assert (
        product.items()
        >= {
            "id": RECORDED_PRODUCT,
            "title": RECORDED_TITLE,
            "certifications": ["Gold Standard VER"],
            "sdgs": [1, 3, 6, 7, 8, 12, 13, 15],
            "files": [],
            "categories": [{"code": "clean_water", "title": "Clean Water"}],
            "impact_types": [{"code": "avoidance", "title": "Avoidance"}],
            "classes": [],
        }.items()
    )
    [price] = product["prices"]
    assert (
        price.items()
        >= {
            "product": RECORDED_PRODUCT,
            "unit_amount": 1231,
            "valid_from": "2023-10-16",
            "carbon_unit": "tonne",
            "currency": "EUR",
        }.items()
    )


@pytest.mark.usefixtures("catalogue")
def test_recorded_unknown_product_is_404(client: Any, gem: dict[str, str]) -> None:
    assert_error(client.get("/v2/products/invalid_id?locale=en", headers=gem), 404, "not_found")


@pytest.mark.usefixtures("catalogue")
def test_products_list_is_an_array_filtered_and_paged(client: Any, gem: dict[str, str]) -> None:
    listed = assert_success(client.get("/v2/products?locale=en", headers=gem))
    assert [p["id"] for p in listed] == [RECORDED_PRODUCT, "product_N7TnHY"]
    by_category = client.get("/v2/products?category=blue_carbon", headers=gem).json()
    assert [p["id"] for p in by_category] == ["product_N7TnHY"]
    by_impact = client.get("/v2/products?impact_type=avoidance", headers=gem).json()
    assert [p["id"] for p in by_impact] == [RECORDED_PRODUCT]
    assert client.get("/v2/products?class=nature_based", headers=gem).json() == []
    second_page = client.get("/v2/products?page=2&items=1", headers=gem).json()
    assert [p["id"] for p in second_page] == ["product_N7TnHY"]
    assert_error(
        client.get("/v2/products?items=26", headers=gem), 400, "field_validation_error", "items"
    )
    assert_error(
        client.get("/v2/products?locale=xx", headers=gem), 400, "field_validation_error", "locale"
    )


@pytest.mark.usefixtures("catalogue")
def test_products_are_read_in_the_requested_locale(
    client: Any, db: Database, gem: dict[str, str]
) -> None:
    with db.write() as session:
        offset_catalogue.translate_product(
            session,
            RECORDED_PRODUCT,
            locale="de",
            title="Wasserfilter und Kochherde in Guatemala",
            description="Das Projekt verteilt Wasserfilter und Kochherde.",
        )
    german = client.get("/v2/products/product_026c41?locale=de", headers=gem).json()
    assert german["title"] == "Wasserfilter und Kochherde in Guatemala"
    french = client.get("/v2/products/product_026c41?locale=fr", headers=gem).json()
    assert french["title"] == RECORDED_TITLE  # untranslated: English


# The docs' curl examples, verbatim: only the Authorization header


@pytest.mark.usefixtures("catalogue")
def test_docs_examples_list_and_read_products_and_read_a_purchase(
    client: Any, make_token: TokenFactory
) -> None:
    docs = {"Authorization": f"Bearer {make_token('CLIENT1')}"}  # -H "Authorization: ..."
    listed = assert_success(client.get("/v2/products", headers=docs))
    assert [p["id"] for p in listed] == [RECORDED_PRODUCT, "product_N7TnHY"]
    product = assert_success(client.get("/v2/products/product_026c41", headers=docs))
    assert product["title"] == RECORDED_TITLE  # `locale` defaults to en
    quote = assert_success(client.get("/v2/pricing?carbon_quantity=42", headers=docs))
    created = client.post("/v2/purchases", json={"pricing": quote["id"]}, headers=docs).json()
    read = assert_success(client.get(f"/v2/purchases/{created['id']}", headers=docs))
    assert read.keys() >= {
        "id",
        "files",
        "payment_method",
        "state",
        "metadata",
        "checkout_page",
        "carbon_quantity",
        "carbon_unit",
        "total",
        "currency",
        "external_reference",
    }
    assert (read["total"], read["carbon_quantity"]) == (42 * 1231, 42)


def test_products_need_an_api_key(client: Any) -> None:
    assert_error(client.get("/v2/products?locale=en"), 401, "not_authorized")
    response = client.get("/v2/products/product_026c41?locale=en")
    assert_error(response, 401, "not_authorized")
    assert re.match(r"^req_", response.headers["x-request-id"])
