"""Trade trackings of the Trace API: a trade's delivery, leg by leg (``itenary``).

Rules (also written in openapi.yaml, tag ``trade-trackings``):
- A tracking belongs to a trade of the caller's tenant (an unknown, deleted or foreign
  trade is 404, as the trades pages answer) and is created by who may change that trade
  (the user responsible for it or a tenant-wide token, else 403). Its ``trackingId`` is
  made here. Other tenants' trackings do not exist (404); any user of the tenant reads
  the tenant's trackings, and the user who created one (or a tenant-wide token) changes it.
- Each leg keeps the carrier's ``trackingId`` as sent and gets a ``referenceId`` of its
  own; a leg is addressed by either (``find_leg``). Replacing the itinerary keeps the
  ``referenceId`` of a leg sent again with its carrier ``trackingId``.
- ``userId``, ``tenantId``, ``countryCode`` and ``tradeId`` in an update's body are
  informational: the status page's own example names another tenant and trade than its
  headers, and a tracking stays with the trade it was created for.
- Stages run ``SELLER_WAREHOUSE`` -> ``IN_TRANSIT`` -> ``DELIVERED`` (``move_status``): a
  new tracking is at the first; a move forward (skipping a stage too) is allowed, the
  current stage again changes nothing, a move back is 409.
- Every change is versioned (``ETag``/``If-Match``) and recorded in the change history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Text, func
from sqlmodel import Field, Session, SQLModel, col, select

from models.common.caller import Caller
from models.common.history import ChangeEntry, history_page, record_row_change
from models.common.types import ExactDecimal, UTCDateTime, surrogate_pk, utcnow
from models.trades import trades
from tradepost.conditional import UNCONDITIONAL, Precondition, etag, guarded_flush
from tradepost.errors import Conflict, Forbidden, NotFound

RESOURCE = "trade_tracking"


class TrackingStatus(StrEnum):
    SELLER_WAREHOUSE = "SELLER_WAREHOUSE"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"


STAGES = tuple(TrackingStatus)
INITIAL = TrackingStatus.SELLER_WAREHOUSE

LEG_FIELDS = (
    "trackingId",
    "origin",
    "destination",
    "shippingDate",
    "trackingProvider",
    "deliveryDate",
    "deliveryMode",
    "finalDestination",
    "qualityChecked",
    "labellingDetails",
    "docLinks",
)
# What ``trackingSearch`` looks in, besides the tracking's and its trade's ids.
_SEARCHED_LEG_FIELDS = (
    "trackingId",
    "origin",
    "destination",
    "trackingProvider",
    "deliveryMode",
    "labellingDetails",
)

_VERSION = Column("version", Integer, nullable=False)


class TradeTracking(SQLModel, table=True):
    __tablename__ = "trade_trackings"
    __table_args__ = (
        Index("ix_trade_trackings_tenant_pk", "tenant_id", "pk"),
        Index("ix_trade_trackings_tenant_trade", "tenant_id", "trade_id"),
    )
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    country_code: str | None = Field(default=None, max_length=8)
    trade_id: str = Field(sa_column=Column(String(36), nullable=False))
    delivered_quantity: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    itenary: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    # Lower-cased ids and leg texts, one per line: what ``trackingSearch`` matches.
    search_text: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


RENDERED = (
    ("trackingId", "id"),
    ("tradeId", "trade_id"),
    ("status", "status"),
    ("itenary", "itenary"),
    ("deliveredQuantity", "delivered_quantity"),
    ("userId", "user_id"),
    ("tenantId", "tenant_id"),
    ("countryCode", "country_code"),
    ("version", "version"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
)
_NOT_IN_HISTORY = {"id", "version", "created_at", "updated_at"}


def tracking_fields(tracking: TradeTracking) -> dict[str, Any]:
    """The one rendering of a tracking (create, read, list, every update)."""
    return {name: getattr(tracking, column) for name, column in RENDERED}


def history_snapshot(tracking: TradeTracking) -> dict[str, Any]:
    return {
        name: getattr(tracking, column)
        for name, column in RENDERED
        if column not in _NOT_IN_HISTORY
    }


# --- legs ---------------------------------------------------------------------------------


def _leg(sent: dict[str, Any], reference_id: str | None = None) -> dict[str, Any]:
    """A stored leg: its own ``referenceId``, then every leg field (null when not sent)."""
    return {
        "referenceId": reference_id or str(uuid.uuid4()),
        **{name: sent.get(name) for name in LEG_FIELDS},
    }


def _itinerary(sent: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]) -> list[Any]:
    """The legs sent, each keeping the ``referenceId`` of a current leg with its carrier
    ``trackingId`` (each current leg matched once, in order)."""
    unmatched = [leg for leg in current if leg.get("trackingId") is not None]
    legs = []
    for leg in sent:
        match = next((c for c in unmatched if c["trackingId"] == leg.get("trackingId")), None)
        if match is not None:
            unmatched.remove(match)
        legs.append(_leg(leg, match["referenceId"] if match else None))
    return legs


def find_leg(tracking: TradeTracking, reference: str) -> int:
    """The index of the leg ``reference`` names: its ``referenceId``, or its carrier
    ``trackingId`` (the handle a client written from the pages has). 404 when no leg has
    it, 409 when the ``trackingId`` is on several legs (their ``referenceId`` tells them
    apart)."""
    for index, leg in enumerate(tracking.itenary):
        if leg["referenceId"] == reference:
            return index
    found = [i for i, leg in enumerate(tracking.itenary) if leg.get("trackingId") == reference]
    if not found:
        raise NotFound(f"No leg found with referenceId {reference} in this trade tracking.")
    if len(found) > 1:
        raise Conflict(
            f"Several legs have trackingId {reference}; name one by its referenceId.",
            code="ambiguous_leg_reference",
        )
    return found[0]


def _search_text(tracking: TradeTracking) -> str:
    texts = [tracking.id, tracking.trade_id]
    for leg in tracking.itenary:
        texts += [str(leg[name]) for name in _SEARCHED_LEG_FIELDS if leg.get(name) is not None]
    return "\n".join(texts).lower()


# --- reads ----------------------------------------------------------------------------------


def get_tracking(
    session: Session, caller: Caller, *, tracking_id: str, lock: bool = False
) -> TradeTracking:
    """The one scoped getter: a tracking of the caller's tenant, else 404."""
    statement = select(TradeTracking).where(
        TradeTracking.id == tracking_id, TradeTracking.tenant_id == caller.tenant_id
    )
    found = session.exec(statement.with_for_update() if lock else statement).first()
    if found is None:
        raise NotFound(f"No trade tracking found with trackingId {tracking_id}.")
    return found


@dataclass(frozen=True, slots=True)
class TrackingQuery:
    """What a list asks for; every filter is optional, values within one filter are ORed."""

    limit: int = 20
    page: int = 1
    order: str = "DESC"
    search: str | None = None
    date_range: tuple[date, date] | None = None
    statuses: tuple[str, ...] = ()
    trade_ids: tuple[str, ...] = ()
    tracking_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrackingPage:
    trackings: Sequence[TradeTracking]
    total: int


def list_trackings(session: Session, caller: Caller, *, query: TrackingQuery) -> TrackingPage:
    """The tenant's trackings matching ``query``, by creation (``DESC``: newest first).

    ``date_range`` is inclusive on the day (UTC) a tracking was created.
    """
    where: list[Any] = [TradeTracking.tenant_id == caller.tenant_id]
    if query.search:
        text = query.search.lower()
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(col(TradeTracking.search_text).like(f"%{escaped}%", escape="\\"))
    if query.date_range is not None:
        start, end = (datetime.combine(day, time(), UTC) for day in query.date_range)
        where += [TradeTracking.created_at >= start, TradeTracking.created_at < end + timedelta(1)]
    for column, values in (
        (TradeTracking.status, query.statuses),
        (TradeTracking.trade_id, query.trade_ids),
        (TradeTracking.id, query.tracking_ids),
    ):
        if values:
            where.append(col(column).in_(values))
    total = session.exec(select(func.count()).select_from(TradeTracking).where(*where)).one()
    pk = col(TradeTracking.pk)
    statement = (
        select(TradeTracking)
        .where(*where)
        .order_by(pk.desc() if query.order == "DESC" else pk.asc())
        .offset((query.page - 1) * query.limit)
        .limit(query.limit)
    )
    return TrackingPage(list(session.exec(statement)), total)


# --- writes ---------------------------------------------------------------------------------


def create_tracking(session: Session, caller: Caller, *, values: dict[str, Any]) -> TradeTracking:
    """A new tracking of the trade ``values["tradeId"]`` names, at its first stage."""
    trade = trades.get_trade(session, caller, values["tradeId"])
    trades.require_changeable_by(caller, trade)
    now = utcnow()
    tracking = TradeTracking(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        user_id=caller.user_id or trade["user_id"],
        country_code=caller.country_code,
        trade_id=trade["id"],
        delivered_quantity=values.get("deliveredQuantity"),
        status=INITIAL.value,
        itenary=_itinerary(values.get("itenary", []), []),
        search_text="",
        created_at=now,
        updated_at=now,
    )
    tracking.search_text = _search_text(tracking)
    session.add(tracking)
    session.flush()
    record_row_change(session, RESOURCE, tracking, caller, None, history_snapshot(tracking))
    return tracking


def _changeable(
    session: Session, caller: Caller, tracking_id: str, precondition: Precondition
) -> TradeTracking:
    """The tracking, locked, if the caller may change it (403) at this version (412)."""
    tracking = get_tracking(session, caller, tracking_id=tracking_id, lock=True)
    if caller.is_user_token and tracking.user_id != caller.user_id:
        raise Forbidden("The user does not have permission to update the trade tracking.")
    precondition.check(tracking.etag)
    return tracking


def _save(
    session: Session, caller: Caller, tracking: TradeTracking, before: dict[str, Any]
) -> TradeTracking:
    tracking.search_text = _search_text(tracking)
    tracking.updated_at = utcnow()
    session.add(tracking)
    guarded_flush(session)
    record_row_change(session, RESOURCE, tracking, caller, before, history_snapshot(tracking))
    return tracking


def update_tracking(
    session: Session,
    caller: Caller,
    *,
    tracking_id: str,
    values: dict[str, Any],
    precondition: Precondition = UNCONDITIONAL,
) -> TradeTracking:
    """``deliveredQuantity`` and/or the whole ``itenary``; what is left out stays."""
    tracking = _changeable(session, caller, tracking_id, precondition)
    before = history_snapshot(tracking)
    if "deliveredQuantity" in values:
        tracking.delivered_quantity = values["deliveredQuantity"]
    if "itenary" in values:
        tracking.itenary = _itinerary(values["itenary"], tracking.itenary)
    return _save(session, caller, tracking, before)


def move_status(
    session: Session,
    caller: Caller,
    *,
    tracking_id: str,
    status: str,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeTracking:
    """The tracking at ``status``: forward along the stages, or unchanged at the current."""
    tracking = _changeable(session, caller, tracking_id, precondition)
    current, target = (
        STAGES.index(TrackingStatus(tracking.status)),
        STAGES.index(TrackingStatus(status)),
    )
    if target == current:
        return tracking
    if target < current:
        raise Conflict(
            f"A {tracking.status} trade tracking cannot go back to {status}.",
            code="invalid_status_transition",
        )
    before = history_snapshot(tracking)
    tracking.status = status
    return _save(session, caller, tracking, before)


def update_leg(
    session: Session,
    caller: Caller,
    *,
    tracking_id: str,
    reference: str,
    values: dict[str, Any],
    precondition: Precondition = UNCONDITIONAL,
) -> TradeTracking:
    """One leg's fields as sent; the others, and the other legs, stay."""
    tracking = _changeable(session, caller, tracking_id, precondition)
    index = find_leg(tracking, reference)
    before = history_snapshot(tracking)
    legs = list(tracking.itenary)
    legs[index] = {**legs[index], **{k: v for k, v in values.items() if k in LEG_FIELDS}}
    tracking.itenary = legs
    return _save(session, caller, tracking, before)


def tracking_history(
    session: Session, caller: Caller, *, tracking_id: str, limit: int, after: int | None = None
) -> tuple[list[ChangeEntry], int | None]:
    """The tracking's changes, oldest first; ``after`` is the last version of the previous
    page."""
    tracking = get_tracking(session, caller, tracking_id=tracking_id)
    entries, _total = history_page(
        session,
        resource_type=RESOURCE,
        resource_id=tracking.id,
        limit=limit + 1,
        after_version=after or 0,
    )
    next_cursor = entries[limit - 1].version if len(entries) > limit else None
    return entries[:limit], next_cursor
