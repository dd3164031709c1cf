"""The served API docs (Swagger UI) in a real headless Chromium.

Chromium comes from Debian's ``chromium`` package (``make test`` installs it when
missing); Playwright drives it. The screenshot is kept under ``build/artifacts``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Figures
from tests.platform.test_live_fuzz import cli
from tests.servers import Server, running_server
from tradepost.app import SPEC_PATH

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "artifacts"
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
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    tmp = tmp_path_factory.mktemp("ui")
    database = f"sqlite:///{tmp / 'ui.db'}"
    cli(database, "db", "upgrade")
    token = cli(database, "tokens", "create", "--tenant", "CUST1", "--user", "example_user")
    membership = ("--tenant", "CUST1", "--user", "example_user", "--retailer", "123")
    cli(database, "customers", "add-retailer", *membership)
    with running_server(database, tmp) as server:
        import httpx

        submitted = httpx.post(
            f"{server.url}/api/v0/user/example_user/submit-purchase?retailer_id=123",
            json={"purchase": [{"datetime": "2025-01-15 00:00", "purchase": 1}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert submitted.status_code == 201
        yield server, token, submitted.json()["id"]


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
