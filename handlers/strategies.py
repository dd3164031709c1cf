"""Strategies API v0: ``/api/v0/...`` and ``/health/``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models import customers, strategies
from models.strategies import StrategyPurchase
from tradepost import jsonio
from tradepost.errors import Unauthenticated
from tradepost.http import body, json_response, principal, services


async def strategies_health() -> Any:
    return json_response({"status": "ok"})


async def strategies_login() -> Any:
    credentials = body()
    settings = services().settings
    services().limiter.check_login(credentials["email"])
    with services().db.write() as session:
        minted = customers.login(
            session,
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
    with services().db.write() as session:
        purchase = strategies.submit_purchase(session, principal(token_info), username, rows)
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
    )


async def get_strategy_purchase(
    username: str, purchase_id: str, token_info: dict[str, Any], idmodel: int | None = None
) -> Any:
    with services().db.read() as session:
        purchase = strategies.get_purchase(session, principal(token_info), username, purchase_id)
    return json_response(
        {
            **_summary(purchase),
            "purchase": jsonio.raw(purchase.rows_json),
            "rows_uploaded": purchase.rows_uploaded,
            "outputs": strategies.outputs_of(purchase, idmodel),
            "created_at": purchase.created_at,
        }
    )


async def update_strategy_purchase(
    username: str, purchase_id: str, token_info: dict[str, Any]
) -> Any:
    with services().db.write() as session:
        purchase = strategies.update_purchase(
            session, principal(token_info), username, purchase_id, body()
        )
    return json_response(
        {
            **_summary(purchase),
            "outputs": strategies.outputs_of(purchase),
            "message": f"CustomerPurchase {purchase.id} updated successfully",
        }
    )


def _summary(purchase: StrategyPurchase) -> dict[str, Any]:
    return {
        "id": purchase.id,
        "status": purchase.status,
        "error": purchase.error,
        "updated_at": purchase.updated_at,
    }
