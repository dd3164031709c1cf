"""Trade API v1: ``/api/v1/trades``."""

from __future__ import annotations

from datetime import date
from typing import Any

from handlers.trades.tenancy import envelope
from handlers.trades.tenancy import header_caller as _caller
from models.common.caller import Caller
from models.common.history import ChangeEntry, actor_label, snapshot
from models.trades import lists as trade_lists
from models.trades import trades
from models.trades.lists import TradePage, TradeQuery
from models.trades.trades import TradeRow
from tradepost.http.request import (
    body,
    create,
    history_request_ids,
    if_match,
    json_response,
    read_response,
    services,
)


def _values(payload: dict[str, Any]) -> dict[str, Any]:
    return {trades.INPUT[name]: value for name, value in payload.items()}


def trade_json(row: TradeRow) -> dict[str, Any]:
    """The one rendering of a trade (create, read, list, every update)."""
    return {name: row[column] for name, column in trades.RENDERED}


def change_json(entry: ChangeEntry) -> dict[str, Any]:
    before, after = snapshot(entry)
    return {
        "version": entry.version,
        "action": entry.action,
        "changedAt": entry.changed_at,
        "principal": {
            "tenantId": entry.actor_tenant_id,
            "userId": entry.actor_user_id,
            "actor": actor_label(entry),
        },
        "requestId": entry.request_id,
        "clientRequestId": entry.client_request_id,
        "before": before,
        "after": after,
    }


def _changed(message: str, row: TradeRow, **extra: Any) -> Any:
    payload = {"message": message, **extra, "trade": trade_json(row)}
    return json_response(payload, headers={"ETag": trades.etag_of(row)})


def _created(row: TradeRow) -> Any:
    headers = {"Location": f"/api/v1/trades/{row['id']}", "ETag": trades.etag_of(row)}
    payload = {"message": "Trade created successfully.", **trade_json(row)}
    return json_response(payload, 201, headers=headers)


async def create_trade() -> Any:
    return await create(trades.create_trade, _created, _caller(), _values(body()))


async def get_trade(trade_id: str) -> Any:
    row = await services().db.run_read(trades.get_trade, _caller(), trade_id)
    return read_response(trade_json(row), trades.etag_of(row))


def _dates(given: list[str] | None) -> tuple[date, date] | None:
    return None if given is None else (date.fromisoformat(given[0]), date.fromisoformat(given[1]))


def _page_json(page: TradePage, query: TradeQuery) -> dict[str, Any]:
    return {
        "items": [trade_json(row) for row in page.rows],
        "nextCursor": page.next_cursor,
        "page": query.page,
        "limit": query.limit,
        "total": page.total,
    }


async def list_trades(
    limit: int = 20,
    page: int = 1,
    order: str = "DESC",
    cursor: str | None = None,
    trade_search: str | None = None,
    trade_date_range: list[str] | None = None,
    trade_statuses: list[str] | None = None,
    trade_by_product_ids: list[str] | None = None,
    trade_ids: list[str] | None = None,
    by_states: list[str] | None = None,
    by_cities: list[str] | None = None,
    by_business_ids: list[str] | None = None,
) -> Any:
    query = TradeQuery(
        limit=limit,
        page=page,
        order=order,
        after=cursor,
        search=trade_search,
        date_range=_dates(trade_date_range),
        statuses=tuple(trade_statuses or ()),
        product_ids=tuple(trade_by_product_ids or ()),
        trade_ids=tuple(trade_ids or ()),
        business_ids=tuple(by_business_ids or ()),
        unknown_attribute_filtered=bool(by_states or by_cities),
    )
    found = await services().db.run_read(trade_lists.list_trades, _caller(), query)
    return json_response(_page_json(found, query))


async def list_trade_negotiations(
    limit: int = 20,
    page: int = 1,
    order: str = "DESC",
    trade_date_range: list[str] | None = None,
    product_unit_types: list[str] | None = None,
    trade_with_sabi: int | None = None,
    trade_initiated_by_buyer: int | None = None,
    trade_by_request_ids: list[str] | None = None,
    trade_statuses: list[str] | None = None,
    trade_request_statuses: list[str] | None = None,
    trade_by_product_ids: list[str] | None = None,
    trade_ids: list[str] | None = None,
    by_states: list[str] | None = None,
    by_cities: list[str] | None = None,
    by_seller_ids: list[str] | None = None,
    by_buyer_ids: list[str] | None = None,
    by_business_ids: list[str] | None = None,
) -> Any:
    unknown = (by_states, by_cities)
    query = TradeQuery(
        limit=limit,
        page=page,
        order=order,
        date_range=_dates(trade_date_range),
        statuses=tuple(trade_statuses or ()),
        product_ids=tuple(trade_by_product_ids or ()),
        trade_ids=tuple(trade_ids or ()),
        business_ids=tuple(by_business_ids or ()),
        seller_ids=tuple(by_seller_ids or ()),
        buyer_ids=tuple(by_buyer_ids or ()),
        unit_types=tuple(product_unit_types or ()),
        request_ids=tuple(trade_by_request_ids or ()),
        request_statuses=tuple(trade_request_statuses or ()),
        unknown_attribute_filtered=any(unknown) or 1 in (trade_with_sabi, trade_initiated_by_buyer),
        negotiations=True,
    )
    found = await services().db.run_read(trade_lists.list_trades, _caller(), query)
    message = "Trade negotiations retrieved successfully"  # the page's text, no full stop
    return json_response(envelope(200, message, _page_json(found, query)))


async def update_trade(trade_id: str) -> Any:
    row = await services().db.run_statements(
        trades.update_trade,
        _caller(),
        trade_id,
        _values(body()),
        precondition=if_match(),
    )
    return _changed("Trade updated successfully.", row)


async def _update_part(trade_id: str, part: str) -> TradeRow:
    return await services().db.run_write(
        trades.update_subresource,
        _caller(),
        trade_id,
        part,
        body(),
        precondition=if_match(),
    )


async def update_trade_documents(trade_id: str) -> Any:
    row = await _update_part(trade_id, "documents")
    return _changed("Trade documents updated successfully.", row)


async def update_trade_testing_details(trade_id: str) -> Any:
    row = await _update_part(trade_id, "testing-details")
    return _changed("Testing details updated successfully.", row)


async def update_trade_payment_details(trade_id: str) -> Any:
    row = await _update_part(trade_id, "payment-details")
    return _changed("Payment details updated successfully.", row)


async def update_trade_delivery_details(trade_id: str) -> Any:
    row = await _update_part(trade_id, "delivery-details")
    return _changed("Delivery details updated successfully.", row)


async def update_trade_terms_conditions(trade_id: str) -> Any:
    row = await _update_part(trade_id, "terms-conditions")
    return _changed("Terms and conditions updated successfully.", row)


async def terminate_trade(trade_id: str) -> Any:
    comment = body()["comment"]
    row = await services().db.run_write(
        trades.terminate_trade, _caller(), trade_id, comment, precondition=if_match()
    )
    return _changed("Trade terminated successfully.", row, comment=comment)


async def change_trade_status(trade_id: str) -> Any:
    status = body()["status"]
    row = await services().db.run_write(
        trades.change_status, _caller(), trade_id, status, precondition=if_match()
    )
    return _changed("Trade status updated successfully.", row)


async def approve_trade_process_flow(trade_id: str) -> Any:
    decision = body()
    row = await services().db.run_write(
        trades.approve_process_flow,
        _caller(),
        trade_id,
        status=decision["status"],
        reason=decision.get("reason"),
        precondition=if_match(),
    )
    return _changed("Approval of trade process flow was successful.", row)


async def delete_trade(trade_id: str) -> Any:
    await services().db.run_write(trades.delete_trade, _caller(), trade_id, precondition=if_match())
    return json_response({"message": "Trade deleted successfully."})


async def accept_trade(trade_id: str, tenant_id: str, buyer_id: str) -> Any:
    row, _changed_now = await services().db.run_write(
        trades.accept_trade, Caller.for_link(tenant_id, buyer_id, *history_request_ids()), trade_id
    )
    return json_response(
        {
            "message": "Trade accepted successfully.",
            "tradeId": row["id"],
            "tenantId": row["tenant_id"],
            "buyerId": row["buyer_id"],
            "status": row["status"],
        },
        headers={"ETag": trades.etag_of(row)},
    )


async def get_trade_history(trade_id: str, limit: int = 20, cursor: int | None = None) -> Any:
    entries, next_cursor = await services().db.run_read(
        trades.trade_history, _caller(), trade_id, limit=limit, after=cursor
    )
    return json_response({"items": [change_json(e) for e in entries], "nextCursor": next_cursor})
