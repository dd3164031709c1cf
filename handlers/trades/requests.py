"""Trade requests: ``/api/trade-requests`` (tag ``trade-requests``)."""

from __future__ import annotations

from typing import Any

from handlers.trades.tenancy import envelope, header_caller
from handlers.trades.trades import change_json
from models.trades import requests
from models.trades.requests import TradeRequest
from tradepost.http.request import body, if_match, json_response, read_response, services


def _answer(status: int, message: str, request: TradeRequest) -> dict[str, Any]:
    return envelope(status, message, requests.request_fields(request))


async def create_trade_request() -> Any:
    request = await services().db.run_write(requests.create_request, header_caller(), values=body())
    headers = {"Location": f"/api/trade-requests/{request.id}", "ETag": request.etag}
    payload = _answer(201, "Trade request created successfully.", request)
    return json_response(payload, 201, headers=headers)


async def get_trade_request(request_id: str) -> Any:
    request = await services().db.run_read(
        requests.get_request, header_caller(), request_id=request_id
    )
    return read_response(_answer(200, "Request processed successfully", request), request.etag)


async def update_trade_request_approval_status(request_id: str) -> Any:
    decision = body()
    request = await services().db.run_write(
        requests.decide_request,
        header_caller(),
        request_id=request_id,
        status=decision["status"],
        trade_id=decision["tradeId"],
        comment=decision.get("comment"),
        precondition=if_match(),
    )
    payload = _answer(201, "Trade request approval status updated successfully.", request)
    return json_response(payload, 201, headers={"ETag": request.etag})


async def get_trade_request_history(
    request_id: str, limit: int = 20, cursor: int | None = None
) -> Any:
    entries, next_cursor = await services().db.run_read(
        requests.request_history, header_caller(), request_id=request_id, limit=limit, after=cursor
    )
    return json_response({"items": [change_json(e) for e in entries], "nextCursor": next_cursor})
