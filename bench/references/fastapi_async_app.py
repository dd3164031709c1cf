"""The trade PATCH (and Strategies PUT) the way a FastAPI user writes them on PostgreSQL.

The same request models, checks and ORM steps as ``fastapi_app`` (the sync reference, used
on SQLite), but on SQLAlchemy's asyncio extension, which is what a FastAPI user picks for
PostgreSQL: ``create_async_engine`` with an async driver, SQLModel's ``AsyncSession`` per
request from a dependency, ``async def`` endpoints on the event loop, every database call
awaited (token lookup, load, commit, refresh). The engine keeps SQLAlchemy's defaults
except the pool, sized as the service's (10 connections per process, no overflow).

The driver is ``BENCH_ASYNC_DRIVER``: ``asyncpg`` (the default; see bench/NOTES.md for
the side-by-side run with psycopg 3's async mode) or ``psycopg``. Run:
``BENCH_DATABASE_URL=postgresql://... uvicorn --factory
bench.references.fastapi_async_app:create_app``.
"""

import hashlib
import json
import os
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.references.common import SERVICE_POOL_SIZE, database_url
from bench.references.fastapi_app import (
    IDENT,
    CountryCode,
    PurchaseUpdate,
    TradeOut,
    TradePatch,
    TradeUpdated,
    _now,
)
from models.common.tokens import ApiToken
from models.strategies.purchases import StrategyPurchase
from models.trades.trades import Trade

DRIVERS = ("asyncpg", "psycopg")


def async_url(url: str, driver: str) -> str:
    if driver not in DRIVERS:
        raise RuntimeError(f"BENCH_ASYNC_DRIVER must be one of {DRIVERS}, not {driver!r}")
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise RuntimeError("the async FastAPI reference runs on PostgreSQL")
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def make_async_engine(url: str, driver: str) -> AsyncEngine:
    return create_async_engine(async_url(url, driver), pool_size=SERVICE_POOL_SIZE, max_overflow=0)


def create_app(url: str | None = None) -> FastAPI:
    driver = os.environ.get("BENCH_ASYNC_DRIVER", "asyncpg")
    engine = make_async_engine(database_url(url), driver)
    bearer = HTTPBearer()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(engine) as session:
            yield session

    SessionDep = Annotated[AsyncSession, Depends(get_session)]

    async def current_token(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    ) -> ApiToken:
        digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
        result = await session.exec(
            select(ApiToken).where(
                ApiToken.token_hash == digest,
                ApiToken.revoked_at.is_(None),  # type: ignore[union-attr]
            )
        )
        token = result.first()
        if token is None or (token.expires_at is not None and token.expires_at <= _now()):
            raise HTTPException(401, "Invalid token.", headers={"WWW-Authenticate": "Bearer"})
        return token

    TokenDep = Annotated[ApiToken, Depends(current_token)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.patch("/api/v1/trades/{trade_id}", response_model=TradeUpdated)
    async def update_trade(
        trade_id: UUID,
        patch: TradePatch,
        session: SessionDep,
        token: TokenDep,
        tenant_id: Annotated[
            str, Header(alias="tenantId", min_length=1, max_length=64, pattern=IDENT)
        ],
        user_id: Annotated[str, Header(alias="userId", min_length=1, max_length=64, pattern=IDENT)],
        country_code: Annotated[CountryCode, Header(alias="countryCode")],
    ) -> Any:
        if token.tenant_id != tenant_id or (token.user_id and token.user_id != user_id):
            raise HTTPException(403, "The token does not belong to this tenant or user.")
        headers = {"tenant_id": tenant_id, "user_id": user_id, "country_code": country_code}
        data = patch.model_dump(exclude_unset=True)
        if any(name in data and data[name] != value for name, value in headers.items()):
            raise HTTPException(403, "The body must match the headers.")
        result = await session.exec(
            select(Trade).where(Trade.id == str(trade_id), Trade.tenant_id == tenant_id)
        )
        trade = result.first()
        if trade is None:
            raise HTTPException(404, f"No trade found with tradeId {trade_id}.")
        if token.user_id is not None and trade.user_id != user_id:
            raise HTTPException(403, "The user does not have permission to update the trade.")
        data.pop("country_code", None)  # an enum member, equal to the header
        trade.sqlmodel_update(data)
        if {"quantity", "indicative_unit_price"} & data.keys() and "total_amount" not in data:
            trade.total_amount = (trade.quantity * trade.indicative_unit_price).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_EVEN
            )
        trade.version += 1
        trade.updated_at = _now()
        session.add(trade)
        await session.commit()
        await session.refresh(trade)
        return {"message": "Trade updated successfully.", "trade": TradeOut.model_validate(trade)}

    @app.put("/api/v0/user/{username}/purchase/{purchase_id}/update")
    async def update_purchase(
        username: Annotated[str, PathParam(min_length=1, max_length=64, pattern=IDENT)],
        purchase_id: UUID,
        update: PurchaseUpdate,
        session: SessionDep,
        token: TokenDep,
    ) -> Any:
        if token.user_id is not None and token.user_id != username:
            raise HTTPException(404, "Purchase not found.")
        result = await session.exec(
            select(StrategyPurchase).where(
                StrategyPurchase.id == str(purchase_id),
                StrategyPurchase.tenant_id == token.tenant_id,
                StrategyPurchase.user_id == username,
            )
        )
        purchase = result.first()
        if purchase is None:
            raise HTTPException(404, "Purchase not found.")
        if update.status is not None:
            if purchase.status == "completed" and update.status != "completed":
                raise HTTPException(409, "A completed purchase stays completed.")
            purchase.status = update.status
        if update.error is not None:
            purchase.error = update.error
        outputs = update.model_dump(mode="json", exclude_unset=True)["outputs"]
        purchase.outputs_json = json.dumps(outputs)
        purchase.version += 1
        purchase.updated_at = _now()
        session.add(purchase)
        await session.commit()
        await session.refresh(purchase)
        return {
            "id": purchase.id,
            "status": purchase.status,
            "error": purchase.error,
            "updated_at": purchase.updated_at,
            "outputs": outputs,
            "message": f"CustomerPurchase {purchase.id} updated successfully",
        }

    return app
