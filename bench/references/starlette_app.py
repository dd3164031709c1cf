"""The same trade PATCH and Strategies PUT in plain Starlette through the ORM, unvalidated.

No schema validation and no authentication: parse the JSON body, load the row with
SQLModel, set the fields, commit, refresh, answer the row as JSON. This is the floor of
"framework + ORM" cost that the service, which validates and authenticates everything,
is measured against. Handlers are ``async def`` doing the short synchronous transaction
on the event loop, as the service does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.references.common import database_url, make_engine
from models.strategies.purchases import StrategyPurchase
from models.trades.trades import Trade

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


def create_app(url: str | None = None) -> Starlette:
    engine = make_engine(database_url(url))

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def update_trade(request: Request) -> JSONResponse:
        payload = json.loads(await request.body(), parse_float=Decimal)
        with Session(engine) as session:
            trade = session.exec(
                select(Trade).where(Trade.id == request.path_params["trade_id"])
            ).first()
            if trade is None:
                return JSONResponse({"message": "not found"}, 404)
            for name, value in payload.items():
                setattr(trade, FIELDS[name], value)
            trade.version += 1
            trade.updated_at = datetime.now(UTC)
            session.add(trade)
            session.commit()
            session.refresh(trade)
            return JSONResponse(
                {"message": "Trade updated successfully.", "trade": trade.model_dump(mode="json")}
            )

    async def update_purchase(request: Request) -> JSONResponse:
        payload: dict[str, Any] = json.loads(await request.body())
        with Session(engine) as session:
            purchase = session.exec(
                select(StrategyPurchase).where(
                    StrategyPurchase.id == request.path_params["purchase_id"],
                    StrategyPurchase.user_id == request.path_params["username"],
                )
            ).first()
            if purchase is None:
                return JSONResponse({"error": "Purchase not found."}, 404)
            for name in ("status", "error"):
                if name in payload:
                    setattr(purchase, name, payload[name])
            purchase.outputs_json = json.dumps(payload["outputs"])
            purchase.version += 1
            purchase.updated_at = datetime.now(UTC)
            session.add(purchase)
            session.commit()
            session.refresh(purchase)
            return JSONResponse(
                {
                    "id": purchase.id,
                    "status": purchase.status,
                    "error": purchase.error,
                    "updated_at": purchase.updated_at.isoformat(),
                    "outputs": payload["outputs"],
                    "message": f"CustomerPurchase {purchase.id} updated successfully",
                }
            )

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/v1/trades/{trade_id}", update_trade, methods=["PATCH"]),
            Route(
                "/api/v0/user/{username}/purchase/{purchase_id}/update",
                update_purchase,
                methods=["PUT"],
            ),
        ]
    )
