"""The served API docs (Swagger UI) in a real headless Chromium.

Chromium comes from Debian's ``chromium`` package (``make test`` installs it when
missing); Playwright drives it. The screenshot is kept under ``build/artifacts``.

"Try it out" with the values Swagger UI pre-fills from the spec's examples succeeds: an
update is not refused for a stale example ``If-Match`` (412), lists are not emptied by
example filters, a quote is not refused for two exclusive example amounts. The served
``/openapi.json`` is the document as written (its ``$ref``s and ``servers`` kept).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import Figures
from tests.platform.test_live_fuzz import cli
from tests.servers import Server, running_server
from tradepost.app import SPEC_PATH

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("TRADEPOST_REQUIRE_POSTGRES") == "1":  # CI: never skip
            pytest.fail("chromium is missing; `make test` installs Debian's package")
        pytest.skip("chromium is not installed (`make test` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    database = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'ui.db'}"
    cli(database, "db", "upgrade")
    return database


@pytest.fixture(scope="module")
def live(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str, str]]:
    tmp = tmp_path_factory.mktemp("ui-server")
    customer = ("--tenant", "CUST1", "--user", "example_user", "--retailer", "123")
    email = ("--email", "customer@example.com", "--password-stdin")
    cli(database, "customers", "create", *customer, *email, stdin="a long password\n")
    cli(database, "products", "seed")
    with running_server(database, tmp) as server:
        import httpx

        login = httpx.post(  # the Strategies API's only credential: the customer's login
            f"{server.url}/api/v0/auth/login/",
            json={"email": "customer@example.com", "password": "a long password"},
        )
        token = login.json()["token"]

        submitted = httpx.post(
            f"{server.url}/api/v0/user/example_user/submit-purchase?retailer_id=123",
            json={"purchase": [{"datetime": "2025-01-15 00:00", "purchase": 1}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert submitted.status_code == 201
        yield server, token, submitted.json()["id"]


@pytest.fixture(scope="module")
def trade_token(database: str) -> str:
    """A token of the trade examples' tenant and user (the pre-filled ``TEN123``/``USR456``)."""
    return cli(database, "tokens", "create", "--tenant", "TEN123", "--user", "USR456")


@pytest.fixture(scope="module")
def offsets_key(database: str) -> str:
    """A carbon-offset API key of the same client (the offsets surface takes no other)."""
    return cli(database, "tokens", "create", "--surface", "offsets", "--tenant", "TEN123")


def documented_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }


def test_docs_list_every_operation_and_try_it_out_works(
    browser: Any, live: tuple[Server, str, str], figures: Figures
) -> None:
    server, token, purchase_id = live
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server.url}/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)

    listed = {
        (
            block.query_selector(".opblock-summary-method").inner_text().strip().upper(),
            block.query_selector(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.query_selector_all(".opblock-summary")
    }
    assert listed == documented_operations()

    page.click("button.authorize")
    page.fill(".auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")

    operation = page.locator("#operations-strategies-getStrategyPurchase")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("tr[data-param-name='username'] input").fill("example_user")
    operation.locator("tr[data-param-name='purchase_id'] input").fill(purchase_id)
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "200"
    assert purchase_id in operation.locator(".live-responses-table").inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "swagger-ui.png"
    page.screenshot(path=str(screenshot), full_page=True)
    with figures():
        print(f"\nSwagger UI screenshot (CI artifact): {screenshot}")
    page.close()


def _authorize(page: Any, token: str) -> None:
    page.click("button.authorize")
    page.fill(".auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")


def _try_it_out(page: Any, tag: str, operation_id: str, **fill: str) -> tuple[str, str]:
    """Open the operation, press "Try it out", fill only ``fill`` (everything else keeps
    what Swagger UI pre-filled from the spec) and execute: the status and response text."""
    operation = page.locator(f"#operations-{tag}-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    for name, value in fill.items():
        operation.locator(f"tr[data-param-name='{name}'] input").fill(value)
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=30_000)
    answered = status.inner_text().strip(), operation.locator(".live-responses-table").inner_text()
    operation.locator(".opblock-summary").click()  # closed again: the next one stays in view
    return answered


def test_try_it_out_with_the_prefilled_values_succeeds(
    browser: Any, live: tuple[Server, str, str], trade_token: str, offsets_key: str
) -> None:
    server, _, _ = live
    created = httpx.post(
        f"{server.url}/api/v1/trades",
        headers={
            "Authorization": f"Bearer {trade_token}",
            "tenantId": "TEN123",
            "userId": "USR456",
            "countryCode": "US",
        },
        json={
            "productId": "prod123",
            "quantity": 1000,
            "indicativeUnitPrice": 54.5,
            "productUnitType": "Barrels",
            "businessId": "BUS789",
            "buyerId": "BUY321",
        },
    )
    assert created.status_code == 201, created.text
    trade_id = created.json()["tradeId"]

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server.url}/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    servers = page.locator(".servers select option").all_inner_texts()
    assert any(text.startswith("/") for text in servers), servers
    assert any("127.0.0.1:8000" in text for text in servers), servers
    _authorize(page, trade_token)

    # The document's own PATCH example, as pre-filled: no If-Match to be stale.
    status, body = _try_it_out(page, "trades", "updateTrade", tradeId=trade_id)
    assert status == "200", body
    assert "newProd123" in body
    # Lists with no filter pre-filled: the tenant's trade is there.
    status, body = _try_it_out(page, "trades", "listTrades")
    assert status == "200", body
    assert trade_id in body
    status, body = _try_it_out(page, "trades", "listTradeNegotiations")
    assert status == "200", body
    page.close()

    # Each surface takes only its own credential: the offsets operations with an API key.
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server.url}/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    _authorize(page, offsets_key)
    status, body = _try_it_out(page, "offsets", "getProducts")
    assert status == "200", body
    assert "product_example1" in body
    status, body = _try_it_out(page, "offsets", "getPricing")
    assert status == "200", body
    assert "pricing_" in body
    page.close()


def test_the_served_document_is_the_one_written(live: tuple[Server, str, str]) -> None:
    server, _, _ = live
    written = yaml.safe_load(SPEC_PATH.read_text())
    served = httpx.get(f"{server.url}/openapi.json")
    assert served.status_code == 200
    assert served.json() == written  # $refs, servers and all
    assert '"$ref"' in served.text
    as_yaml = httpx.get(f"{server.url}/openapi.yaml")
    assert as_yaml.text == SPEC_PATH.read_text()
