"""Trade API v1: ``/api/v1/trades``."""

from __future__ import annotations

from typing import Any

from models import trades
from models.history import ChangeEntry, snapshot
from models.trades import Trade, TradeContext, TradeRow
from tradepost.http import (
    body,
    header,
    if_match,
    json_response,
    principal,
    read_response,
    request_id,
    services,
)

# JSON name -> column name
FIELDS = {
    "productId": "product_id",
    "description": "description",
    "quantity": "quantity",
    "indicativeUnitPrice": "indicative_unit_price",
    "totalAmount": "total_amount",
    "productUnitType": "product_unit_type",
    "docLinks": "doc_links",
    "labellingRequirement": "labelling_requirement",
    "packagingRequirement": "packaging_requirement",
    "userId": "user_id",
    "tenantId": "tenant_id",
    "countryCode": "country_code",
}


def _context(token_info: dict[str, Any]) -> TradeContext:
    return TradeContext(
        principal=principal(token_info),
        tenant_id=header("tenantId") or "",
        user_id=header("userId") or "",
        country_code=header("countryCode"),
        request_id=request_id(),
    )


def _values(payload: dict[str, Any]) -> dict[str, Any]:
    return {FIELDS[name]: value for name, value in payload.items()}


def trade_json(trade: Trade) -> dict[str, Any]:
    return row_json(trades.columns(trade))


def row_json(row: TradeRow) -> dict[str, Any]:
    return {
        "tradeId": row["id"],
        "tenantId": row["tenant_id"],
        "userId": row["user_id"],
        "countryCode": row["country_code"],
        "productId": row["product_id"],
        "description": row["description"],
        "quantity": row["quantity"],
        "indicativeUnitPrice": row["indicative_unit_price"],
        "totalAmount": row["total_amount"],
        "productUnitType": row["product_unit_type"],
        "docLinks": row["doc_links"],
        "labellingRequirement": row["labelling_requirement"],
        "packagingRequirement": row["packaging_requirement"],
        "version": row["version"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def change_json(entry: ChangeEntry) -> dict[str, Any]:
    before, after = snapshot(entry)
    return {
        "version": entry.version,
        "action": entry.action,
        "changedAt": entry.changed_at,
        "principal": {
            "tenantId": entry.actor_tenant_id,
            "userId": entry.actor_user_id,
            "tokenId": entry.actor_token_id,
        },
        "requestId": entry.request_id,
        "before": before,
        "after": after,
    }


async def create_trade(token_info: dict[str, Any]) -> Any:
    trade = await services().db.run_write(
        trades.create_trade, _context(token_info), _values(body())
    )
    headers = {"Location": f"/api/v1/trades/{trade.id}", "ETag": trade.etag}
    return json_response(trade_json(trade), 201, headers=headers)


async def get_trade(trade_id: str, token_info: dict[str, Any]) -> Any:
    trade = await services().db.run_read(trades.get_trade, _context(token_info), trade_id)
    return read_response(trade_json(trade), trade.etag)


async def list_trades(
    token_info: dict[str, Any], limit: int = 20, cursor: str | None = None
) -> Any:
    page, next_cursor = await services().db.run_read(
        trades.list_trades, _context(token_info), limit=limit, after=cursor
    )
    return json_response({"items": [trade_json(t) for t in page], "nextCursor": next_cursor})


async def update_trade(trade_id: str, token_info: dict[str, Any]) -> Any:
    trade = await services().db.run_write(
        trades.update_trade,
        _context(token_info),
        trade_id,
        _values(body()),
        precondition=if_match(),
    )
    return json_response(
        {"message": "Trade updated successfully.", "trade": row_json(trade)},
        headers={"ETag": trades.etag_of(trade)},
    )


async def get_trade_history(
    trade_id: str, token_info: dict[str, Any], limit: int = 20, cursor: int | None = None
) -> Any:
    entries, next_cursor = await services().db.run_read(
        trades.trade_history, _context(token_info), trade_id, limit=limit, after=cursor
    )
    return json_response({"items": [change_json(e) for e in entries], "nextCursor": next_cursor})
