"""The trade tracking pipeline (trades-families.md P1-P3) and the trade's process-flow
approval (X1): the pages' example requests (with a trade of the tenant where they name
one), one record per trade and process flow, safe writes and history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.contract import snapshot
from tests.factories import make_trade
from tests.trades.test_trades import assert_trade_error, trade_headers
from tradepost.db import Database

PIPELINE = "/api/v1/trade-tracking-pipeline"
# Each page's path, example body (its `trade` replaced by a trade of the tenant) and sentence.
PAGES = [
    (
        "/finances",
        {
            "processFlow": "FLOW456",
            "amount": 1000,
            "proofOfPayment": "proof123",
            "testResult": "result123",
            "status": True,
            "dateTimeStamp": "2024-07-13T01:29:53.039Z",
        },
        "The financial details of the trade tracking pipeline have been successfully updated.",
        "finances",
    ),
    (
        "/finances/confirm-payment",
        {
            "processFlow": "SampleProcess",
            "amount": 1000,
            "proofOfPayment": "Proof123",
            "testResult": "Result123",
            "status": True,
            "dateTimeStamp": "2024-07-13T01:45:32.413Z",
        },
        "Payment confirmed successfully.",
        "paymentConfirmation",
    ),
    (
        "/sampling/approval",
        {
            "processFlow": "Sample Process Flow",
            "amount": 1000,
            "status": True,
            "dateTimeStamp": "2024-07-13T01:15:53.342Z",
        },
        "Approval successful.",
        "samplingApproval",
    ),
]
IDENTITY = {"userId": "USR456", "tenantId": "TEN123", "countryCode": "US"}


@pytest.fixture
def headers(make_token: TokenFactory) -> dict[str, str]:
    return trade_headers(make_token("TEN123", "USR456"))


@pytest.mark.parametrize(("path", "example", "sentence", "stage"), PAGES, ids=lambda p: p)
def test_each_pages_example_sets_its_stage(
    client: Any,
    db: Database,
    headers: dict[str, str],
    path: str,
    example: dict[str, Any],
    sentence: str,
    stage: str,
) -> None:
    trade = make_trade(db)
    body = {"trade": trade.id, **example, **IDENTITY}
    response = client.patch(f"{PIPELINE}{path}", headers=headers, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["statusCode"], answer["message"], answer["errors"]) == (
        True,
        200,
        sentence,
        [],
    )
    record = answer["data"]
    assert (record["trade"], record["processFlow"], record["version"]) == (
        trade.id,
        example["processFlow"],
        1,
    )
    assert record[stage] == {k: v for k, v in example.items() if k != "processFlow"}
    others = {"finances", "paymentConfirmation", "samplingApproval"} - {stage}
    assert all(record[other] is None for other in others)
    assert response.headers["etag"] == f'"{record["pipelineId"]}-v1"'


def test_the_stages_of_one_trade_and_flow_are_one_record_merged_field_by_field(
    client: Any, db: Database, headers: dict[str, str]
) -> None:
    trade = make_trade(db)
    flow = {"trade": trade.id, "processFlow": "FLOW456"}
    first = client.patch(f"{PIPELINE}/finances", headers=headers, json={**flow, "amount": 10})
    again = client.patch(
        f"{PIPELINE}/finances", headers=headers, json={**flow, "proofOfPayment": "p"}
    )
    record = again.json()["data"]
    assert record["pipelineId"] == first.json()["data"]["pipelineId"]
    assert (record["finances"], record["version"]) == ({"amount": 10, "proofOfPayment": "p"}, 2)
    other_flow = client.patch(
        f"{PIPELINE}/finances", headers=headers, json={"trade": trade.id, "amount": 5}
    )
    assert other_flow.json()["data"]["pipelineId"] != record["pipelineId"]
    assert other_flow.json()["data"]["processFlow"] is None


@pytest.mark.parametrize("trade", ["TRADE123", "Sample Trade", "foreign"])
def test_a_trade_that_is_not_the_tenants_is_404_and_nothing_is_stored(
    client: Any, db: Database, headers: dict[str, str], trade: str
) -> None:
    trade_id = make_trade(db, tenant="TEN999").id if trade == "foreign" else trade
    before = snapshot(db)
    response = client.patch(
        f"{PIPELINE}/sampling/approval", headers=headers, json={"trade": trade_id}
    )
    assert_trade_error(response, 404, "not_found")
    assert snapshot(db) == before


def test_if_match_applies_to_the_version_named_and_to_an_existing_record_only(
    client: Any, db: Database, headers: dict[str, str]
) -> None:
    trade = make_trade(db)
    body = {"trade": trade.id, "status": True}
    before = snapshot(db)
    missing = client.patch(f"{PIPELINE}/finances", headers={**headers, "If-Match": "*"}, json=body)
    assert_trade_error(missing, 412, "precondition_failed")
    assert snapshot(db) == before
    created = client.patch(f"{PIPELINE}/finances", headers=headers, json=body)
    tag = created.headers["etag"]
    stale = client.patch(
        f"{PIPELINE}/finances", headers={**headers, "If-Match": '"x-v9"'}, json=body
    )
    assert_trade_error(stale, 412, "precondition_failed")
    current = client.patch(f"{PIPELINE}/finances", headers={**headers, "If-Match": tag}, json=body)
    assert current.status_code == 200, current.text


def test_the_pipeline_body_is_the_pages_shared_one(client: Any, headers: dict[str, str]) -> None:
    no_trade = client.patch(f"{PIPELINE}/finances", headers=headers, json={"amount": 1})
    assert_trade_error(no_trade, 400, "validation_error", "trade")
    text_status = client.patch(
        f"{PIPELINE}/finances", headers=headers, json={"trade": "t", "status": "PAID"}
    )
    assert_trade_error(text_status, 400, "validation_error", "status")


class TestProcessFlowApproval:
    def test_x1s_example_approves_the_trades_process_flow(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        example = {"reason": "Approved after review", "status": "ACCEPTED", "userId": "USR456"}
        url = f"/api/v1/trades/{trade.id}/process-flows/approval"
        response = client.patch(url, headers=headers, json=example)
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Approval of trade process flow was successful."
        assert response.json()["trade"]["processFlowApproval"] == {
            "status": "ACCEPTED",
            "reason": "Approved after review",
        }
        assert response.headers["etag"] == f'"{trade.id}-v2"'
        read = client.get(f"/api/v1/trades/{trade.id}", headers=headers).json()
        assert read["processFlowApproval"]["status"] == "ACCEPTED"
        history = client.get(f"/api/v1/trades/{trade.id}/history", headers=headers).json()
        assert history["items"][-1]["after"]["processFlowApproval"]["reason"] == (
            "Approved after review"
        )

    def test_a_terminated_trade_is_read_only(
        self, client: Any, db: Database, headers: dict[str, str]
    ) -> None:
        trade = make_trade(db)
        client.patch(f"/api/v1/trades/{trade.id}/terminate", headers=headers, json={"comment": "x"})
        before = snapshot(db)
        response = client.patch(
            f"/api/v1/trades/{trade.id}/process-flows/approval",
            headers=headers,
            json={"status": "ACCEPTED"},
        )
        assert_trade_error(response, 409, "trade_final")
        assert snapshot(db) == before
