"""Strategies API v0: ``/api/v0/...`` and ``/health/``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models import customers, strategies
from models.history import snake_case_json
from models.strategies import StrategyPurchase
from tradepost import jsonio
from tradepost.errors import Unauthenticated
from tradepost.http import (
    body,
    if_match,
    json_response,
    principal,
    read_response,
    request_id,
    request_url,
    services,
)


async def strategies_health() -> Any:
    return json_response({"status": "ok"})


async def strategies_login() -> Any:
    credentials = body()
    settings = services().settings
    await services().limiter.check_login(credentials["email"])
    minted = await services().db.run_write(
        customers.login,
        email=credentials["email"],
        password=credentials["password"],
        lifetime=timedelta(hours=settings.login_token_hours),
    )
    if minted is None:
        raise Unauthenticated("Invalid email or password.", code="invalid_credentials")
    token, row = minted
    return json_response({"token": token, "expiry": row.expires_at})


async def submit_strategy_purchase(username: str, token_info: dict[str, Any]) -> Any:
    rows = body()["purchase"]
    purchase = await services().db.run_write(
        strategies.submit_purchase, principal(token_info), username, rows, request_id=request_id()
    )
    return json_response(
        {
            "id": purchase.id,
            "status": purchase.status,
            "created_at": purchase.created_at,
            "rows_uploaded": purchase.rows_uploaded,
            "error": purchase.error,
            "message": "Purchase submitted successfully.",
        },
        201,
        headers={"ETag": purchase.etag},
    )


async def get_strategy_purchase(
    username: str, purchase_id: str, token_info: dict[str, Any], idmodel: int | None = None
) -> Any:
    purchase = await services().db.run_read(
        strategies.get_purchase, principal(token_info), username, purchase_id
    )
    return read_response(
        {
            **_summary(purchase),
            "purchase": jsonio.raw(purchase.rows_json),
            "rows_uploaded": purchase.rows_uploaded,
            "outputs": strategies.outputs_of(purchase, idmodel),
            "created_at": purchase.created_at,
        },
        purchase.etag,
    )


async def update_strategy_purchase(
    username: str, purchase_id: str, token_info: dict[str, Any]
) -> Any:
    purchase = await services().db.run_write(
        strategies.update_purchase,
        principal(token_info),
        username,
        purchase_id,
        body(),
        precondition=if_match(),
        request_id=request_id(),
    )
    return json_response(
        {
            **_summary(purchase),
            "outputs": strategies.outputs_of(purchase),
            "message": f"CustomerPurchase {purchase.id} updated successfully",
        },
        headers={"ETag": purchase.etag},
    )


async def get_strategy_purchase_history(
    username: str, purchase_id: str, token_info: dict[str, Any], limit: int = 20, offset: int = 0
) -> Any:
    entries, total = await services().db.run_read(
        strategies.purchase_history,
        principal(token_info),
        username,
        purchase_id,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "count": total,
            "next": _page_url(limit, offset + limit) if offset + limit < total else None,
            "previous": _page_url(limit, max(offset - limit, 0)) if offset > 0 else None,
            "results": [snake_case_json(e) for e in entries],
        }
    )


def _page_url(limit: int, offset: int) -> str:
    return str(request_url().include_query_params(limit=limit, offset=offset))


def _summary(purchase: StrategyPurchase) -> dict[str, Any]:
    return {
        "id": purchase.id,
        "status": purchase.status,
        "error": purchase.error,
        "updated_at": purchase.updated_at,
    }
