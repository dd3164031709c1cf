"""Trades of the multi-tenant trade API v1, and every rule about changing them.

Rules (also written in openapi.yaml):
- A request acts for the tenant and user named in its ``tenantId``/``userId`` headers.
  The token must belong to that tenant, and a user-bound token to that user (else 403;
  ``models.common.caller.Caller.naming`` checks it when the handler builds the caller).
- ``tenantId``, ``userId`` and ``countryCode`` in a body must equal the headers (else 403):
  a body cannot move a trade to another tenant, user or country than the request's own.
- Every user of a tenant reads the tenant's trades; a trade is changed only by the user
  responsible for it or by a tenant-wide token (else 403). Other tenants' trades, and
  deleted ones, are 404. The buyer named on a trade accepts it through its public link.
- ``totalAmount`` defaults to ``quantity x indicativeUnitPrice`` rounded half-even to
  2 decimals. When an update changes quantity or price without sending ``totalAmount``,
  the total is recomputed; a ``totalAmount`` that is sent is stored as sent.
- Statuses and their moves are ``models/trades/lifecycle.py``'s.
- Every write reads the trade without a lock, then changes it with an UPDATE guarded by
  ``WHERE version = :v`` that bumps the version, with its history entry (one statement on
  PostgreSQL: ``models.common.optimistic``); one carrying ``If-Match`` applies only to
  the version it names (else 412), one without runs again from a fresh read when the
  version moved in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    insert,
    select,
)
from sqlmodel import Field, Session, SQLModel

from models.common import optimistic
from models.common.caller import Caller
from models.common.history import ChangeEntry, entry_values, history_page, record_change
from models.common.types import ExactDecimal, UTCDateTime, utcnow
from models.trades import lifecycle
from models.trades.units import canonical
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
    # 0006: the lifecycle, the parties, and the sub-resources of the reference's pages
    status: str = Field(
        default=lifecycle.INITIAL.value,
        sa_column=Column(String(16), nullable=False, server_default=lifecycle.INITIAL.value),
    )
    business_id: str | None = Field(default=None, max_length=64)
    buyer_id: str | None = Field(default=None, max_length=64)
    seller_id: str | None = Field(default=None, max_length=64)
    trade_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    terms_and_conditions: str | None = Field(default=None, sa_column=Column(Text))
    testing_details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    payment_details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    delivery_details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    termination_comment: str | None = Field(default=None, max_length=1000)
    # 0010: the approval of the trade's process flow (PATCH .../process-flows/approval)
    process_flow_approval: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


@dataclass(frozen=True, slots=True)
class TradeField:
    """One field of a trade: its JSON name, its column, and who may set it."""

    name: str
    column: str
    on_create: bool = False  # a create body may send it
    on_update: bool = False  # the details PATCH (updateTrade) may send it
    in_history: bool = True  # recorded in change-history snapshots
    in_answer: bool = True  # rendered in the API's answers


# The one table of a trade's fields: the API's input map, its rendering and the history
# snapshot are all derived from it.
FIELDS: tuple[TradeField, ...] = (
    TradeField("tradeId", "id", in_history=False),
    TradeField("status", "status"),
    TradeField("tenantId", "tenant_id", on_create=True, on_update=True),
    TradeField("userId", "user_id", on_create=True, on_update=True),
    TradeField("countryCode", "country_code", on_create=True, on_update=True),
    TradeField("businessId", "business_id", on_create=True),
    TradeField("buyerId", "buyer_id", on_create=True),
    TradeField("sellerId", "seller_id"),
    TradeField("tradeDate", "trade_date"),
    TradeField("productId", "product_id", on_create=True, on_update=True),
    TradeField("description", "description", on_create=True, on_update=True),
    TradeField("quantity", "quantity", on_create=True, on_update=True),
    TradeField("indicativeUnitPrice", "indicative_unit_price", on_create=True, on_update=True),
    TradeField("totalAmount", "total_amount", on_create=True, on_update=True),
    TradeField("productUnitType", "product_unit_type", on_create=True, on_update=True),
    TradeField("docLinks", "doc_links", on_create=True, on_update=True),
    TradeField("labellingRequirement", "labelling_requirement", on_create=True, on_update=True),
    TradeField("packagingRequirement", "packaging_requirement", on_create=True, on_update=True),
    TradeField("termsAndConditions", "terms_and_conditions"),
    TradeField("testingDetails", "testing_details"),
    TradeField("paymentDetails", "payment_details"),
    TradeField("deliveryDetails", "delivery_details"),
    TradeField("terminationComment", "termination_comment"),
    TradeField("processFlowApproval", "process_flow_approval"),
    TradeField("version", "version", in_history=False),
    TradeField("createdAt", "created_at", in_history=False),
    TradeField("updatedAt", "updated_at", in_history=False),
    TradeField("deletedAt", "deleted_at", in_answer=False),  # a deleted trade is not found
)
INPUT = {f.name: f.column for f in FIELDS if f.on_create or f.on_update}
"""JSON name -> column, for every field a create or update body may carry."""
RENDERED = tuple((f.name, f.column) for f in FIELDS if f.in_answer)
HISTORY = tuple((f.name, f.column) for f in FIELDS if f.in_history)
# What the details PATCH's UPDATE sets: its fields but the tenant (a body may repeat the
# tenant, never change it).
_UPDATABLE = tuple(f.column for f in FIELDS if f.on_update and f.column != "tenant_id")


TradeRow = Mapping[str, Any]
"""A trade as its columns: what every function here returns."""

TABLE = Trade.__table__  # type: ignore[attr-defined]
_TABLE = TABLE
COLUMNS = tuple(_TABLE.columns.keys())
# Tenancy in one place: every read of a trade by id is scoped by these conditions, and a
# deleted trade is not found.
_IN_TENANT = (
    _TABLE.c.id == bindparam("id"),
    _TABLE.c.tenant_id == bindparam("tenant"),
    _TABLE.c.deleted_at.is_(None),
)


def etag_of(row: TradeRow) -> str:
    return etag(row["id"], row["version"])


def history_snapshot(row: TradeRow) -> dict[str, Any]:
    return {name: row[column] for name, column in HISTORY}


def _record(session: Session, caller: Caller, row: TradeRow, before: Any) -> None:
    record_change(
        session,
        resource_type=RESOURCE,
        resource_id=row["id"],
        tenant_id=row["tenant_id"],
        version=row["version"],
        caller=caller,
        before=before,
        after=history_snapshot(row),
    )


CONTEXT_FIELDS = ("tenant_id", "user_id", "country_code")
_CONTEXT_JSON = ("tenantId", "userId", "countryCode")


def _check_body_context(caller: Caller, values: Mapping[str, Any]) -> None:
    for name in CONTEXT_FIELDS:
        if name in values and values[name] != getattr(caller, name):
            raise Forbidden(
                f"{_camel(name)} in the body must match the {_camel(name)} header.",
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def total_for(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return _EXACT.multiply(quantity, unit_price).quantize(_CENTS, rounding=ROUND_HALF_EVEN)


def _normalised(values: dict[str, Any]) -> dict[str, Any]:
    if "product_unit_type" in values:
        values["product_unit_type"] = canonical(values["product_unit_type"])
    return values


def create_trade(session: Session, caller: Caller, values: dict[str, Any]) -> TradeRow:
    """A new ``DRAFT`` trade; the acting user is its seller and the user responsible."""
    _check_body_context(caller, values)
    country_code = values.get("country_code", caller.country_code)
    if country_code is None:
        raise InvalidRequest("A trade needs a countryCode.")
    now = utcnow()
    fields = _normalised({k: v for k, v in values.items() if k not in CONTEXT_FIELDS})
    fields.setdefault(
        "total_amount", total_for(fields["quantity"], fields["indicative_unit_price"])
    )
    row: dict[str, Any] = {column: None for column in COLUMNS if column != "pk"}
    row.update(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        user_id=caller.user_id,
        country_code=country_code,
        status=lifecycle.INITIAL.value,
        seller_id=caller.user_id,
        trade_date=now.date(),
        doc_links=[],
        version=1,
        created_at=now,
        updated_at=now,
    )
    row.update(fields)
    session.connection().execute(_INSERT, row)
    _record(session, caller, row, None)
    return row


_INSERT = insert(_TABLE)


def get_trade(session: Session, caller: Caller, trade_id: str) -> TradeRow:
    """A trade of the request's tenant; another tenant's does not exist (404)."""
    found = session.connection().execute(_SELECT, _scope(caller.tenant_id, trade_id))
    row = found.mappings().first()
    if row is None:
        raise _not_found(trade_id)
    return dict(row)


_SELECT = select(_TABLE).where(*_IN_TENANT)
_SELECT_FOR_UPDATE = _SELECT.with_for_update()


def _scope(tenant_id: str, trade_id: str) -> dict[str, str]:
    return {"id": trade_id, "tenant": tenant_id}


def _not_found(trade_id: str) -> NotFound:
    return NotFound(f"No trade found with tradeId {trade_id}.")


# --- writes -----------------------------------------------------------------------------

Changes = Callable[[dict[str, Any]], dict[str, Any]]
"""Given the trade as it is, the columns a write sets (lifecycle checks raise here)."""


def _write(
    session: Session,
    caller: Caller,
    trade_id: str,
    changes: Changes,
    *,
    precondition: Precondition,
    columns: tuple[str, ...] | None = None,
) -> TradeRow:
    """Read, check, write: optimistic, so that it needs no lock and no transaction
    (``models.common.optimistic``).

    The row is read and checked: tenancy (404), ownership (403), ``If-Match`` (412), then
    ``changes`` (the lifecycle's 409). It is then changed by ``UPDATE ... WHERE pk = :pk
    AND version = :v`` that bumps the version, with its history entry: on PostgreSQL in
    the same statement, which commits both or neither by itself, so the PATCH takes two
    round trips in autocommit mode (``Database.run_statements``); on SQLite the write
    transaction is exclusive and the entry is a second statement. If the version moved
    since the read, a request with a specific ``If-Match`` tag is 412; one without runs
    again from the read (last write wins, but never from a stale read: nothing is lost).
    ``columns`` are the columns the UPDATE sets (default: those ``changes`` returned): a
    fixed set per operation, so its statement is compiled once.
    """

    def attempt() -> TradeRow | None:
        found = session.connection().execute(_SELECT, _scope(caller.tenant_id, trade_id))
        row = found.mappings().first()
        if row is None:
            raise _not_found(trade_id)
        current: dict[str, Any] = dict(row)
        require_changeable_by(caller, current)
        precondition.check(etag(current["id"], current["version"]))
        values = dict(changes(current))
        return _apply(session, caller, current, values, columns or tuple(values))

    return optimistic.retrying(attempt, precondition)


def require_changeable_by(caller: Caller, row: TradeRow) -> None:
    """403 unless the caller may change the trade: the user responsible for it, or a
    tenant-wide token (which acts for any user of its tenant)."""
    if caller.is_user_token and row["user_id"] != caller.user_id:
        raise Forbidden("The user does not have permission to update the trade.")


def _apply(
    session: Session,
    caller: Caller,
    current: dict[str, Any],
    values: dict[str, Any],
    columns: tuple[str, ...],
) -> dict[str, Any] | None:
    """The guarded update and its history entry; None when the version moved."""
    values["updated_at"] = utcnow()
    values["version"] = current["version"] + 1
    updated = {**current, **values}
    written = {name: updated[name] for name in (*columns, "updated_at", "version")}
    entry = entry_values(
        resource_type=RESOURCE,
        resource_id=updated["id"],
        tenant_id=updated["tenant_id"],
        version=updated["version"],
        caller=caller,
        before=history_snapshot(current),
        after=history_snapshot(updated),
    )
    applied = optimistic.apply(
        session, _TABLE, pk=current["pk"], version=current["version"], values=written, entry=entry
    )
    return updated if applied else None


def update_trade(
    session: Session,
    caller: Caller,
    trade_id: str,
    changes: dict[str, Any],
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    """The details PATCH (the seed document): every updatable column is SET (unchanged
    ones to their current value), so the statement is compiled once."""
    _check_body_context(caller, changes)
    values = _normalised(dict(changes))

    def details(current: dict[str, Any]) -> dict[str, Any]:
        lifecycle.require_editable(current["status"])
        if {"quantity", "indicative_unit_price"} & values.keys() and ("total_amount" not in values):
            values["total_amount"] = total_for(
                values.get("quantity", current["quantity"]),
                values.get("indicative_unit_price", current["indicative_unit_price"]),
            )
        return values

    return _write(session, caller, trade_id, details, precondition=precondition, columns=_UPDATABLE)


# The sub-resources of the reference's pages: part -> (the column its PATCH writes, the
# body key holding the value; None: the body itself is a JSON object that merges key by
# key into the stored one, omitted keys keeping their values). The documents replace the
# list, the terms replace the text.
SUBRESOURCES: dict[str, tuple[str, str | None]] = {
    "documents": ("doc_links", "docLinks"),
    "testing-details": ("testing_details", None),
    "payment-details": ("payment_details", None),
    "delivery-details": ("delivery_details", None),
    "terms-conditions": ("terms_and_conditions", "termsAndConditions"),
}


def update_subresource(
    session: Session,
    caller: Caller,
    trade_id: str,
    part: str,
    payload: dict[str, Any],
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    """One sub-resource PATCH; ``payload`` is the body as sent (the API's names)."""
    column, key = SUBRESOURCES[part]
    context = {INPUT[name]: payload[name] for name in _CONTEXT_JSON if name in payload}
    _check_body_context(caller, context)
    given = {name: value for name, value in payload.items() if name not in _CONTEXT_JSON}

    def replace(current: dict[str, Any]) -> dict[str, Any]:
        lifecycle.require_editable(current["status"])
        if key is not None:
            return {column: given[key]}
        return {column: {**(current[column] or {}), **given}}

    return _write(session, caller, trade_id, replace, precondition=precondition)


def terminate_trade(
    session: Session,
    caller: Caller,
    trade_id: str,
    comment: str,
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    def terminate(current: dict[str, Any]) -> dict[str, Any]:
        lifecycle.require_terminable(current["status"])
        return {"status": lifecycle.Status.TERMINATED.value, "termination_comment": comment}

    return _write(session, caller, trade_id, terminate, precondition=precondition)


def change_status(
    session: Session,
    caller: Caller,
    trade_id: str,
    status: str,
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    def move(current: dict[str, Any]) -> dict[str, Any]:
        lifecycle.require_move(current["status"], status)
        return {"status": status}

    return _write(session, caller, trade_id, move, precondition=precondition)


def approve_process_flow(
    session: Session,
    caller: Caller,
    trade_id: str,
    *,
    status: str,
    reason: str | None,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    """The trade's process flow approval (replacing an earlier one); a final trade is
    read-only (409)."""

    def approve(current: dict[str, Any]) -> dict[str, Any]:
        lifecycle.require_editable(current["status"])
        return {"process_flow_approval": {"status": status, "reason": reason}}

    return _write(session, caller, trade_id, approve, precondition=precondition)


def delete_trade(
    session: Session,
    caller: Caller,
    trade_id: str,
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRow:
    """Marks the trade deleted (it keeps its history); from then on it is not found."""
    return _write(
        session, caller, trade_id, lambda _: {"deleted_at": utcnow()}, precondition=precondition
    )


def accept_trade(session: Session, caller: Caller, trade_id: str) -> tuple[TradeRow, bool]:
    """The buyer's public link: no token, so the link itself must name the trade's tenant
    (else 404) and its buyer (else 403); ``caller`` is ``Caller.for_link(tenant, buyer)``.
    Returns the trade and whether it changed (accepting an ``Accepted`` trade again changes
    nothing)."""
    connection = session.connection()
    found = connection.execute(_SELECT_FOR_UPDATE, _scope(caller.tenant_id, trade_id))
    row = found.mappings().first()
    if row is None:
        raise _not_found(trade_id)
    current: dict[str, Any] = dict(row)
    if current["buyer_id"] is None or current["buyer_id"] != caller.user_id:
        raise Forbidden("This link does not name the buyer of the trade.")
    if not lifecycle.accepts(current["status"]):
        return current, False
    values = {"status": lifecycle.Status.ACCEPTED.value}
    updated = _apply(session, caller, current, values, ("status",))
    if updated is None:  # pragma: no cover (the row is locked since the read)
        raise stale()
    return updated, True


def trade_history(
    session: Session, caller: Caller, trade_id: str, *, limit: int, after: int | None = None
) -> tuple[list[ChangeEntry], int | None]:
    """The trade's changes, oldest first; ``after`` is the last version of the previous page."""
    trade = get_trade(session, caller, trade_id)
    entries, _total = history_page(
        session,
        resource_type=RESOURCE,
        resource_id=trade["id"],
        limit=limit + 1,
        after_version=after or 0,
    )
    next_cursor = entries[limit - 1].version if len(entries) > limit else None
    return entries[:limit], next_cursor
