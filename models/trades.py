"""Trades of the multi-tenant trade API v1, and every rule about changing them.

Rules (also written in openapi.yaml):
- A request acts for the tenant and user named in its ``tenantId``/``userId`` headers.
  The token must belong to that tenant, and a user-bound token to that user (else 403).
- ``tenantId``, ``userId`` and ``countryCode`` in a body must equal the headers (else 403):
  a body cannot move a trade to another tenant, user or country than the request's own.
- Every user of a tenant reads the tenant's trades; a trade is changed only by the user
  responsible for it or by a tenant-wide token (else 403). Other tenants' trades are 404.
- ``totalAmount`` defaults to ``quantity x indicativeUnitPrice`` rounded half-even to
  2 decimals. When an update changes quantity or price without sending ``totalAmount``,
  the total is recomputed; a ``totalAmount`` that is sent is stored as sent.
- Every write bumps ``version`` in the same guarded UPDATE (``WHERE version = :v``); an
  update carrying ``If-Match`` applies only to the version it names (else 412). Every
  create and update is recorded in the change history, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, bindparam, update
from sqlmodel import Field, Session, SQLModel, select

from models.history import Actor, ChangeEntry, history_page, record_change
from models.tokens import Principal
from models.types import ExactDecimal, UTCDateTime, utcnow
from tradepost.conditional import UNCONDITIONAL, Precondition, etag, stale
from tradepost.errors import Forbidden, InvalidRequest, NotFound

RESOURCE = "trade"

_EXACT = Context(prec=80)
_CENTS = Decimal("0.01")


_VERSION = Column("version", Integer, nullable=False)


class Trade(SQLModel, table=True):
    __tablename__ = "trades"
    __table_args__ = (Index("ix_trades_tenant_pk", "tenant_id", "pk"),)
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    country_code: str = Field(max_length=2)
    product_id: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=2000)
    quantity: Decimal = Field(sa_column=Column(ExactDecimal, nullable=False))
    indicative_unit_price: Decimal = Field(sa_column=Column(ExactDecimal, nullable=False))
    total_amount: Decimal = Field(sa_column=Column(ExactDecimal, nullable=False))
    product_unit_type: str = Field(max_length=32)
    doc_links: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    labelling_requirement: str | None = Field(default=None, max_length=1000)
    packaging_requirement: str | None = Field(default=None, max_length=1000)
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


@dataclass(frozen=True, slots=True)
class TradeContext:
    """The principal behind the token plus the tenant/user/country the headers name."""

    principal: Principal
    tenant_id: str
    user_id: str
    country_code: str | None = None
    request_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.principal, self.request_id)


# The fields a change-history entry records (the API's names, as the history shows them).
HISTORY_FIELDS = {
    "tenantId": "tenant_id",
    "userId": "user_id",
    "countryCode": "country_code",
    "productId": "product_id",
    "description": "description",
    "quantity": "quantity",
    "indicativeUnitPrice": "indicative_unit_price",
    "totalAmount": "total_amount",
    "productUnitType": "product_unit_type",
    "docLinks": "doc_links",
    "labellingRequirement": "labelling_requirement",
    "packagingRequirement": "packaging_requirement",
}


TradeRow = Mapping[str, Any]
"""A trade as its columns: what ``update_trade`` returns, and ``columns`` of a ``Trade``."""

_TABLE = Trade.__table__  # type: ignore[attr-defined]
COLUMNS = tuple(_TABLE.columns.keys())
# Tenancy in one place: every read of a trade by id is scoped by these two conditions.
_IN_TENANT = (_TABLE.c.id == bindparam("id"), _TABLE.c.tenant_id == bindparam("tenant"))


def columns(trade: Trade) -> dict[str, Any]:
    return {name: getattr(trade, name) for name in COLUMNS}


def etag_of(row: TradeRow) -> str:
    return etag(row["id"], row["version"])


def history_snapshot(row: TradeRow) -> dict[str, Any]:
    return {name: row[column] for name, column in HISTORY_FIELDS.items()}


def _record(session: Session, ctx: TradeContext, row: TradeRow, before: Any) -> None:
    record_change(
        session,
        resource_type=RESOURCE,
        resource_id=row["id"],
        tenant_id=row["tenant_id"],
        version=row["version"],
        actor=ctx.actor,
        before=before,
        after=history_snapshot(row),
    )


CONTEXT_FIELDS = ("tenant_id", "user_id", "country_code")


def authorize(ctx: TradeContext) -> None:
    """403 unless the headers name the token's own tenant (and user, for a user token)."""
    if ctx.tenant_id != ctx.principal.tenant_id:
        raise Forbidden(f"The token does not belong to tenant {ctx.tenant_id!r}.")
    if ctx.principal.user_id is not None and ctx.user_id != ctx.principal.user_id:
        raise Forbidden(f"The token does not belong to user {ctx.user_id!r}.")


def _check_body_context(ctx: TradeContext, values: dict[str, Any]) -> None:
    for name in CONTEXT_FIELDS:
        if name in values and values[name] != getattr(ctx, name):
            raise Forbidden(
                f"{_camel(name)} in the body must match the {_camel(name)} header.",
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def total_for(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return _EXACT.multiply(quantity, unit_price).quantize(_CENTS, rounding=ROUND_HALF_EVEN)


def create_trade(session: Session, ctx: TradeContext, values: dict[str, Any]) -> Trade:
    authorize(ctx)
    _check_body_context(ctx, values)
    country_code = values.get("country_code", ctx.country_code)
    if country_code is None:
        raise InvalidRequest("A trade needs a countryCode.")
    now = utcnow()
    fields = {k: v for k, v in values.items() if k not in CONTEXT_FIELDS}
    fields.setdefault(
        "total_amount", total_for(fields["quantity"], fields["indicative_unit_price"])
    )
    trade = Trade(
        id=str(uuid.uuid4()),
        tenant_id=ctx.tenant_id,
        user_id=ctx.user_id,
        country_code=country_code,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(trade)
    session.flush()
    _record(session, ctx, columns(trade), None)
    return trade


def get_trade(session: Session, ctx: TradeContext, trade_id: str) -> Trade:
    """A trade of the request's tenant; another tenant's does not exist (404)."""
    authorize(ctx)
    trade = session.exec(select(Trade).where(*_IN_TENANT), params=_scope(ctx, trade_id)).first()
    if trade is None:
        raise _not_found(trade_id)
    return trade


def _scope(ctx: TradeContext, trade_id: str) -> dict[str, str]:
    return {"id": trade_id, "tenant": ctx.tenant_id}


def _not_found(trade_id: str) -> NotFound:
    return NotFound(f"No trade found with tradeId {trade_id}.")


def list_trades(
    session: Session, ctx: TradeContext, *, limit: int, after: str | None = None
) -> tuple[list[Trade], str | None]:
    """Newest first; ``after`` is the last tradeId of the previous page."""
    authorize(ctx)
    statement = select(Trade).where(Trade.tenant_id == ctx.tenant_id)
    if after is not None:
        anchor = get_trade(session, ctx, after)
        statement = statement.where(Trade.pk < anchor.pk)  # type: ignore[operator]
    rows = list(session.exec(statement.order_by(Trade.pk.desc()).limit(limit + 1)))  # type: ignore[union-attr]
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def update_trade(
    session: Session,
    ctx: TradeContext,
    trade_id: str,
    changes: dict[str, Any],
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    """Three statements on the session's connection, no ORM unit of work in between.

    The row is read (locked on PostgreSQL; SQLite's write transaction is already
    exclusive), checked, then changed by ``UPDATE ... WHERE pk = :pk AND version = :v``
    that bumps the version, and the history entry is inserted.
    """
    _check_body_context(ctx, changes)
    authorize(ctx)
    connection = session.connection()
    found = connection.execute(_SELECT_FOR_UPDATE, _scope(ctx, trade_id)).mappings().first()
    if found is None:
        raise _not_found(trade_id)
    current: dict[str, Any] = dict(found)
    if ctx.principal.user_id is not None and current["user_id"] != ctx.user_id:
        raise Forbidden("The user does not have permission to update the trade.")
    precondition.check(etag(current["id"], current["version"]))
    values = dict(changes)
    if {"quantity", "indicative_unit_price"} & changes.keys() and "total_amount" not in changes:
        values["total_amount"] = total_for(
            values.get("quantity", current["quantity"]),
            values.get("indicative_unit_price", current["indicative_unit_price"]),
        )
    values["updated_at"] = utcnow()
    values["version"] = current["version"] + 1
    updated = {**current, **values}
    guard = {"guard_pk": current["pk"], "guard_version": current["version"]}
    # Every mutable column is SET (unchanged ones to their current value), so the
    # statement is compiled once, not once per combination of changed fields.
    written = {name: updated[name] for name in _MUTABLE}
    if connection.execute(_GUARDED_UPDATE, {**written, **guard}).rowcount != 1:
        raise stale()
    _record(session, ctx, updated, history_snapshot(current))
    return updated


_SELECT_FOR_UPDATE = select(_TABLE).where(*_IN_TENANT).with_for_update()
_MUTABLE = tuple(name for name in COLUMNS if name not in {"pk", "id", "tenant_id", "created_at"})
_GUARDED_UPDATE = update(_TABLE).where(
    _TABLE.c.pk == bindparam("guard_pk"), _TABLE.c.version == bindparam("guard_version")
)


def trade_history(
    session: Session, ctx: TradeContext, trade_id: str, *, limit: int, after: int | None = None
) -> tuple[list[ChangeEntry], int | None]:
    """The trade's changes, oldest first; ``after`` is the last version of the previous page."""
    trade = get_trade(session, ctx, trade_id)
    entries, _total = history_page(
        session,
        resource_type=RESOURCE,
        resource_id=trade.id,
        limit=limit + 1,
        after_version=after or 0,
    )
    next_cursor = entries[limit - 1].version if len(entries) > limit else None
    return entries[:limit], next_cursor
