"""The trade PATCH (and Strategies PUT) the way a FastAPI + SQLModel user writes them.

- the body is a Pydantic model with the constraints of the spec's TradeUpdate schema
  (lengths, patterns, bounds, enums, no unknown fields, at least one field);
- ``tenantId``/``userId``/``countryCode`` are declared header parameters;
- the Bearer token is looked up in the service's hashed token table on every request
  (a dependency, as in FastAPI's security tutorial), in the request's session;
- the row is loaded, the fields set, the session committed and the row refreshed, then
  returned through a response model (FastAPI's SQLModel tutorial, "update with PATCH").

Endpoints are plain ``def`` functions (FastAPI runs them in its thread pool), as in the
SQLModel tutorial. Run: ``BENCH_DATABASE_URL=... uvicorn --factory
bench.references.fastapi_app:create_app``.
"""

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import yaml
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator
from sqlalchemy import Engine
from sqlmodel import Session, select

from bench.references.common import database_url, make_engine
from models.common.tokens import ApiToken
from models.strategies.purchases import StrategyPurchase
from models.trades.trades import Trade

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
_schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]

CountryCode = Enum(  # type: ignore[misc]
    "CountryCode", {code: code for code in _schemas["CountryCode"]["enum"]}, type=str
)
ProductUnitType = Literal[
    "Barrels",
    "MetricTonnes",
    "Kilograms",
    "Pounds",
    "Litres",
    "Gallons",
    "CubicMetres",
    "Bushels",
    "Units",
]
IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NO_NUL = r"^[^\x00]*$"
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENT)]
TenantHeader = Annotated[str, Header(alias="tenantId", min_length=1, max_length=64, pattern=IDENT)]
UserHeader = Annotated[str, Header(alias="userId", min_length=1, max_length=64, pattern=IDENT)]
Number = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class DocLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    link: str = Field(max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$")


class TradePatch(BaseModel):
    """The spec's TradeUpdate: every field optional, none unknown, at least one sent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    product_id: str | None = Field(
        None, alias="productId", min_length=1, max_length=64, pattern=NO_NUL
    )
    description: str | None = Field(None, max_length=2000, pattern=NO_NUL)
    quantity: Decimal | None = Field(None, ge=0, le=Decimal(10**12))
    indicative_unit_price: Decimal | None = Field(
        None, alias="indicativeUnitPrice", ge=0, le=Decimal(10**12)
    )
    total_amount: Decimal | None = Field(None, alias="totalAmount", ge=0, le=Decimal(10**24))
    product_unit_type: ProductUnitType | None = Field(None, alias="productUnitType")
    doc_links: list[DocLink] | None = Field(None, alias="docLinks", max_length=50)
    labelling_requirement: str | None = Field(
        None, alias="labellingRequirement", max_length=1000, pattern=NO_NUL
    )
    packaging_requirement: str | None = Field(
        None, alias="packagingRequirement", max_length=1000, pattern=NO_NUL
    )
    user_id: Ident | None = Field(None, alias="userId")
    tenant_id: Ident | None = Field(None, alias="tenantId")
    country_code: CountryCode | None = Field(None, alias="countryCode")

    @model_validator(mode="after")
    def _not_empty(self) -> "TradePatch":
        if not self.model_fields_set:
            raise ValueError("at least one field must be sent")
        return self


class TradeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    trade_id: str = Field(alias="tradeId", validation_alias="id")
    tenant_id: str = Field(alias="tenantId")
    user_id: str = Field(alias="userId")
    country_code: str = Field(alias="countryCode")
    product_id: str = Field(alias="productId")
    description: str | None
    quantity: Number
    indicative_unit_price: Number = Field(alias="indicativeUnitPrice")
    total_amount: Number = Field(alias="totalAmount")
    product_unit_type: str = Field(alias="productUnitType")
    doc_links: list[dict[str, str]] = Field(alias="docLinks")
    labelling_requirement: str | None = Field(alias="labellingRequirement")
    packaging_requirement: str | None = Field(alias="packagingRequirement")
    version: int
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class TradeUpdated(BaseModel):
    message: str
    trade: TradeOut


# Strategies v0 ------------------------------------------------------------------------
MARKET_DATETIME = _schemas["MarketDateTime"]["pattern"]
YEAR = 35136


class OutputEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datetime: str = Field(pattern=MARKET_DATETIME)
    purchase_percentage: float = Field(ge=0, le=1)
    sale_percentage: float = Field(ge=0, le=1)


Series = Annotated[list[OutputEntry], Field(max_length=YEAR)]


class MarketOutputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    MD: Series | None = None
    MID1: Series | None = None
    MID2: Series | None = None
    MID3: Series | None = None


class ModelOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idmodel: int = Field(ge=1, le=1_000_000)
    value: MarketOutputs


class PurchaseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "in_progress", "completed", "failed"] | None = None
    error: str | None = Field(None, max_length=4000, pattern=NO_NUL)
    outputs: Annotated[list[ModelOutput], Field(max_length=1000)] | dict[str, Any]


def create_app(url: str | None = None) -> FastAPI:
    engine: Engine = make_engine(database_url(url))
    bearer = HTTPBearer()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def get_session() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    SessionDep = Annotated[Session, Depends(get_session)]

    def current_token(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    ) -> ApiToken:
        digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
        token = session.exec(
            select(ApiToken).where(
                ApiToken.token_hash == digest,
                ApiToken.revoked_at.is_(None),  # type: ignore[union-attr]
            )
        ).first()
        if token is None or (token.expires_at is not None and token.expires_at <= _now()):
            raise HTTPException(401, "Invalid token.", headers={"WWW-Authenticate": "Bearer"})
        return token

    TokenDep = Annotated[ApiToken, Depends(current_token)]

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.patch("/api/v1/trades/{trade_id}", response_model=TradeUpdated)
    def update_trade(
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
        trade = session.exec(
            select(Trade).where(Trade.id == str(trade_id), Trade.tenant_id == tenant_id)
        ).first()
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
        session.commit()
        session.refresh(trade)
        return {"message": "Trade updated successfully.", "trade": TradeOut.model_validate(trade)}

    @app.put("/api/v0/user/{username}/purchase/{purchase_id}/update")
    def update_purchase(
        username: Annotated[str, PathParam(min_length=1, max_length=64, pattern=IDENT)],
        purchase_id: UUID,
        update: PurchaseUpdate,
        session: SessionDep,
        token: TokenDep,
    ) -> Any:
        if token.user_id is not None and token.user_id != username:
            raise HTTPException(404, "Purchase not found.")
        purchase = session.exec(
            select(StrategyPurchase).where(
                StrategyPurchase.id == str(purchase_id),
                StrategyPurchase.tenant_id == token.tenant_id,
                StrategyPurchase.user_id == username,
            )
        ).first()
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
        session.commit()
        session.refresh(purchase)
        return {
            "id": purchase.id,
            "status": purchase.status,
            "error": purchase.error,
            "updated_at": purchase.updated_at,
            "outputs": outputs,
            "message": f"CustomerPurchase {purchase.id} updated successfully",
        }

    return app


def _now() -> datetime:
    return datetime.now(UTC)
