"""Trade trackings: ``/api/v1/trade-trackings`` (tag ``trade-trackings``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from handlers.trades.tenancy import header_caller, optional_header_caller
from handlers.trades.trades import change_json
from models.trades import trackings
from models.trades.trackings import TrackingQuery, TradeTracking
from tradepost.http.request import body, if_match, json_response, read_response, services


def _changed(message: str, tracking: TradeTracking) -> Any:
    payload = {"message": message, "tracking": trackings.tracking_fields(tracking)}
    return json_response(payload, headers={"ETag": tracking.etag})


async def create_trade_tracking() -> Any:
    tracking = await services().db.run_write(
        trackings.create_tracking, header_caller(), values=body()
    )
    headers = {"Location": f"/api/v1/trade-trackings/{tracking.id}", "ETag": tracking.etag}
    payload = {
        "message": "Trade tracking created successfully.",
        **trackings.tracking_fields(tracking),
    }
    return json_response(payload, 201, headers=headers)


async def list_trade_trackings(
    limit: int = 20,
    page: int = 1,
    order: str = "DESC",
    trade_tracking_search: str | None = None,
    trade_tracking_date_range: list[str] | None = None,
    tracking_statuses: list[str] | None = None,
    trackings_by_trade_ids: list[str] | None = None,
    tracking_ids: list[str] | None = None,
) -> Any:
    dates = trade_tracking_date_range
    query = TrackingQuery(
        limit=limit,
        page=page,
        order=order,
        search=trade_tracking_search,
        date_range=None
        if dates is None
        else (date.fromisoformat(dates[0]), date.fromisoformat(dates[1])),
        statuses=tuple(tracking_statuses or ()),
        trade_ids=tuple(trackings_by_trade_ids or ()),
        tracking_ids=tuple(tracking_ids or ()),
    )
    found = await services().db.run_read(trackings.list_trackings, header_caller(), query=query)
    items = [trackings.tracking_fields(tracking) for tracking in found.trackings]
    return json_response({"items": items, "page": page, "limit": limit, "total": found.total})


async def get_trade_tracking(tracking_id: str) -> Any:
    tracking = await services().db.run_read(
        trackings.get_tracking, header_caller(), tracking_id=tracking_id
    )
    return read_response(trackings.tracking_fields(tracking), tracking.etag)


async def update_trade_tracking(tracking_id: str) -> Any:
    tracking = await services().db.run_write(
        trackings.update_tracking,
        header_caller(),
        tracking_id=tracking_id,
        values=body(),
        precondition=if_match(),
    )
    return _changed("Trade tracking updated successfully.", tracking)


async def update_trade_tracking_status(tracking_id: str) -> Any:
    tracking = await services().db.run_write(
        trackings.move_status,
        optional_header_caller(),
        tracking_id=tracking_id,
        status=body()["status"],
        precondition=if_match(),
    )
    return _changed("Trade tracking status updated successfully.", tracking)


async def update_trade_tracking_itinerary(tracking_id: str, reference_id: str) -> Any:
    tracking = await services().db.run_write(
        trackings.update_leg,
        header_caller(),
        tracking_id=tracking_id,
        reference=reference_id,
        values=body(),
        precondition=if_match(),
    )
    return _changed("Trade tracking itinerary updated successfully.", tracking)


async def get_trade_tracking_history(
    tracking_id: str, limit: int = 20, cursor: int | None = None
) -> Any:
    entries, next_cursor = await services().db.run_read(
        trackings.tracking_history,
        header_caller(),
        tracking_id=tracking_id,
        limit=limit,
        after=cursor,
    )
    return json_response({"items": [change_json(e) for e in entries], "nextCursor": next_cursor})
