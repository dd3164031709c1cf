"""One Trace client's day, across the families of trades-families.md: a trade, a buyer's
request answered with it, the negotiations list finding it by the request, its delivery
tracked leg by leg through every stage, and its pipeline (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.conftest import TokenFactory
from tradepost.db import Database


def test_trade_request_approval_negotiations_tracking_legs_stages_pipeline(
    client: Any, db: Database, make_token: TokenFactory
) -> None:
    seller = {
        "Authorization": f"Bearer {make_token('TEN123', 'USR456')}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }
    buyer = {**seller, "Authorization": f"Bearer {make_token('TEN123', 'BUY321')}"}
    buyer["userId"] = "BUY321"

    # the seller's trade
    created = client.post(
        "/api/v1/trades",
        headers=seller,
        json={
            "productId": "prd123",
            "quantity": 100,
            "indicativeUnitPrice": 54.5,
            "productUnitType": "Barrels",
            "buyerId": "BUY321",
        },
    )
    assert created.status_code == 201, created.text
    trade_id = created.json()["tradeId"]

    # the buyer's request (the page's body, its own requestId), pending
    request = client.post(
        "/api/trade-requests",
        headers={**buyer, "countryCode": "CNC"},
        json={
            "productId": "prd123",
            "requestId": "req456",
            "quantity": 100,
            "testingRequired": True,
            "sellers": [{"firstName": "Jane", "username": "janedoe", "quantity": 100}],
            "userId": "usr456",
            "tenantId": "tenant123",
            "countryCode": "CNC",
        },
    )
    assert request.status_code == 201, request.text
    assert request.json()["message"] == "Trade request created successfully."
    assert request.json()["data"]["status"] == "PENDING"
    negotiations = "/api/v1/trades/negotiations?tradeByRequestIds=req456"
    pending = client.get(f"{negotiations}&tradeRequestStatuses=ACCEPTED", headers=seller)
    assert pending.json()["data"]["items"] == []

    # the seller accepts it with the trade; the negotiations list finds the trade by it
    approval = client.post(
        "/api/trade-requests/approval-status/req456",
        headers=seller,
        json={"tradeId": trade_id, "status": "ACCEPTED", "comment": "Approval granted"},
    )
    assert approval.status_code == 201, approval.text
    read = client.get("/api/trade-requests/req456", headers=buyer).json()["data"]
    assert (read["status"], read["tradeId"], read["comment"]) == (
        "ACCEPTED",
        trade_id,
        "Approval granted",
    )
    found = client.get(f"{negotiations}&tradeRequestStatuses=ACCEPTED", headers=seller)
    assert found.status_code == 200, found.text
    assert found.json()["message"] == "Trade negotiations retrieved successfully"
    assert [t["tradeId"] for t in found.json()["data"]["items"]] == [trade_id]
    rejected = client.get(f"{negotiations}&tradeRequestStatuses=REJECTED", headers=seller)
    assert rejected.json()["data"]["items"] == []

    # its delivery: a tracking with two legs, the second edited by its carrier id
    tracking = client.post(
        "/api/v1/trade-trackings",
        headers=seller,
        json={
            "tradeId": trade_id,
            "deliveredQuantity": 0,
            "itenary": [
                {"trackingId": "TRACK123", "origin": "Lagos", "destination": "Rotterdam"},
                {"trackingId": "TRACK456", "origin": "Rotterdam", "destination": "Berlin"},
            ],
        },
    )
    assert tracking.status_code == 201, tracking.text
    tracking_id = tracking.json()["trackingId"]
    assert tracking.json()["status"] == "SELLER_WAREHOUSE"
    base = f"/api/v1/trade-trackings/{tracking_id}"
    leg = client.patch(
        f"{base}/reference/TRACK456/itenary",
        headers=seller,
        json={"deliveryMode": "Road", "qualityChecked": True, "tradeId": "TRADE123"},
    )
    assert leg.status_code == 200, leg.text
    legs = leg.json()["tracking"]["itenary"]
    assert [(x["trackingId"], x["deliveryMode"]) for x in legs] == [
        ("TRACK123", None),
        ("TRACK456", "Road"),
    ]

    # through every stage (the status page's headers are optional; its body informational)
    for stage in ("SELLER_WAREHOUSE", "IN_TRANSIT", "DELIVERED"):
        moved = client.patch(
            f"{base}/status",
            headers={"Authorization": seller["Authorization"]},
            json={"status": stage, "tradeId": "TRADE123", "tenantId": "TEN456"},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["message"] == "Trade tracking status updated successfully."
    listed = client.get(
        f"/api/v1/trade-trackings?trackingStatuses=DELIVERED&trackingsByTradeIds={trade_id}",
        headers=seller,
    )
    assert [t["trackingId"] for t in listed.json()["items"]] == [tracking_id]
    updated = client.patch(base, headers=seller, json={"deliveredQuantity": 100})
    assert updated.json()["tracking"]["deliveredQuantity"] == 100

    # the pipeline: sampling approval, finances, payment confirmation, one record
    pipeline = "/api/v1/trade-tracking-pipeline"
    flow = {"trade": trade_id, "processFlow": "FLOW456"}
    steps = [
        ("/sampling/approval", {"testResult": "Passed", "status": True}, "Approval successful."),
        (
            "/finances",
            {"amount": 1000, "proofOfPayment": "proof123"},
            "The financial details of the trade tracking pipeline have been successfully updated.",
        ),
        ("/finances/confirm-payment", {"status": True}, "Payment confirmed successfully."),
    ]
    for path, fields, message in steps:
        answer = client.patch(f"{pipeline}{path}", headers=seller, json={**flow, **fields})
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"] == message
    record = answer.json()["data"]
    assert record["version"] == 3
    assert record["samplingApproval"] == {"testResult": "Passed", "status": True}
    assert record["finances"] == {"amount": 1000, "proofOfPayment": "proof123"}
    assert record["paymentConfirmation"] == {"status": True}

    # and the trade's process flow is approved
    approved = client.patch(
        f"/api/v1/trades/{trade_id}/process-flows/approval",
        headers=seller,
        json={"reason": "Approved after review", "status": "ACCEPTED", "userId": "USR456"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["message"] == "Approval of trade process flow was successful."
    assert approved.json()["trade"]["processFlowApproval"] == {
        "status": "ACCEPTED",
        "reason": "Approved after review",
    }
    history = client.get(f"{base}/history", headers=seller).json()["items"]
    assert [entry["version"] for entry in history] == [1, 2, 3, 4, 5]
