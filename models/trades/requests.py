"""Trade requests of the Trace API: a buyer asks sellers for a product, a seller answers.

Rules (also written in openapi.yaml, tag ``trade-requests``):
- A request belongs to the tenant its headers name (the token's) and to the acting user.
  Its handle is the client's own ``requestId`` (unique per tenant; one is made when the
  body has none); another tenant's request, or an unknown one, is not found (404).
- ``userId``, ``tenantId`` and ``countryCode`` in a body are informational: the pages'
  own examples never repeat the headers (``tenant123`` in the body, ``TEN123`` in the
  headers), so the request is always the headers' tenant's and user's.
- A request starts ``PENDING``. Its approval (``decide_request``) makes it ``ACCEPTED`` or
  ``REJECTED`` once, linking the trade it names: a trade of the tenant (else 404, as the
  trades pages answer) that the caller may change (the user responsible for it or a
  tenant-wide token, else 403). The same decision for the same trade again changes
  nothing; any other decision on a decided request is 409.
- The negotiations list filters trades by the requests linked to them
  (``linked_trades``), so a trade knows its request and that request's status.
- Every change is versioned (``ETag``/``If-Match``) and recorded in the change history,
  under the request's primary key (its ``requestId`` is unique in its tenant only).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    exists,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.history import ChangeEntry, history_page, record_change
from models.common.types import ExactDecimal, UTCDateTime, surrogate_pk, utcnow
from models.trades import trades
from models.trades.units import canonical
from tradepost import jsonio
from tradepost.conditional import UNCONDITIONAL, Precondition, etag, guarded_flush
from tradepost.errors import Conflict, NotFound

RESOURCE = "trade_request"


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


DECISIONS = (RequestStatus.ACCEPTED, RequestStatus.REJECTED)

_VERSION = Column("version", Integer, nullable=False)


class TradeRequest(SQLModel, table=True):
    __tablename__ = "trade_requests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id", name="uq_trade_requests_tenant_id"),
        Index("ix_trade_requests_tenant_trade", "tenant_id", "trade_id"),
    )
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(64), nullable=False))
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    country_code: str | None = Field(default=None, max_length=8)
    product_id: str | None = Field(default=None, max_length=64)
    quantity: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal))
    testing_required: bool | None = Field(default=None, sa_column=Column(Boolean))
    product_specification: str | None = Field(default=None, sa_column=Column(Text))
    terms_and_conditions: str | None = Field(default=None, sa_column=Column(Text))
    doc_links: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    business_id: str | None = Field(default=None, max_length=64)
    # The sellers as sent (JSON text: a seller's quantity stays an exact decimal).
    sellers_json: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    trade_id: str | None = Field(default=None, sa_column=Column(String(36)))
    comment: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)

    @property
    def sellers(self) -> Any:
        """The sellers, ready for ``jsonio.dumps`` (not re-parsed)."""
        return jsonio.raw(self.sellers_json)


# JSON name -> column, for what a create body may set (the body's identity fields are
# informational, see the module's docstring).
INPUT = {
    "requestId": "id",
    "productId": "product_id",
    "quantity": "quantity",
    "testingRequired": "testing_required",
    "productSpecification": "product_specification",
    "termsAndConditions": "terms_and_conditions",
    "docLinks": "doc_links",
    "businessId": "business_id",
    "sellers": "sellers",
}
RENDERED = (
    ("requestId", "id"),
    ("status", "status"),
    ("tradeId", "trade_id"),
    ("comment", "comment"),
    ("tenantId", "tenant_id"),
    ("userId", "user_id"),
    ("countryCode", "country_code"),
    ("productId", "product_id"),
    ("quantity", "quantity"),
    ("testingRequired", "testing_required"),
    ("productSpecification", "product_specification"),
    ("termsAndConditions", "terms_and_conditions"),
    ("docLinks", "doc_links"),
    ("businessId", "business_id"),
    ("sellers", "sellers"),
    ("version", "version"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
)
_NOT_IN_HISTORY = {"id", "version", "created_at", "updated_at"}


def request_fields(request: TradeRequest) -> dict[str, Any]:
    """The one rendering of a request (the envelope's ``data``)."""
    return {name: getattr(request, column) for name, column in RENDERED}


def history_snapshot(request: TradeRequest) -> dict[str, Any]:
    return {
        name: getattr(request, column) for name, column in RENDERED if column not in _NOT_IN_HISTORY
    }


def _sellers(sellers: Sequence[dict[str, Any]]) -> str:
    """Each seller as sent, its ``productUnitType`` in the one stored spelling."""
    stored = [
        {**seller, "productUnitType": canonical(seller["productUnitType"])}
        if "productUnitType" in seller
        else dict(seller)
        for seller in sellers
    ]
    return jsonio.dumps(stored).decode()


def create_request(session: Session, caller: Caller, *, values: dict[str, Any]) -> TradeRequest:
    """A new ``PENDING`` request of the caller's tenant and user; 409 when the tenant has a
    request with this ``requestId`` already."""
    fields = {INPUT[name]: value for name, value in values.items() if name in INPUT}
    request_id = fields.pop("id", None) or str(uuid.uuid4())
    if _find(session, caller, request_id) is not None:
        raise _taken(request_id)
    now = utcnow()
    request = TradeRequest(
        id=request_id,
        tenant_id=caller.tenant_id,
        user_id=caller.user_id or "",
        country_code=caller.country_code,
        sellers_json=_sellers(fields.pop("sellers", [])),
        status=RequestStatus.PENDING.value,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(request)
    try:
        session.flush()
    except IntegrityError:  # the same requestId created concurrently
        raise _taken(request_id) from None
    _record(session, caller, request, None)
    return request


def _record(
    session: Session, caller: Caller, request: TradeRequest, before: dict[str, Any] | None
) -> None:
    record_change(
        session,
        resource_type=RESOURCE,
        resource_id=str(request.pk),
        tenant_id=request.tenant_id,
        version=request.version,
        caller=caller,
        before=before,
        after=history_snapshot(request),
    )


def _taken(request_id: str) -> Conflict:
    return Conflict(
        f"A trade request with requestId {request_id} exists already.",
        code="trade_request_exists",
    )


def _find(
    session: Session, caller: Caller, request_id: str, *, lock: bool = False
) -> TradeRequest | None:
    statement = select(TradeRequest).where(
        TradeRequest.tenant_id == caller.tenant_id, TradeRequest.id == request_id
    )
    return session.exec(statement.with_for_update() if lock else statement).first()


def get_request(
    session: Session, caller: Caller, *, request_id: str, lock: bool = False
) -> TradeRequest:
    """The one scoped getter: a request of the caller's tenant, else 404."""
    found = _find(session, caller, request_id, lock=lock)
    if found is None:
        raise NotFound(f"No trade request found with requestId {request_id}.")
    return found


def decide_request(
    session: Session,
    caller: Caller,
    *,
    request_id: str,
    status: str,
    trade_id: str,
    comment: str | None = None,
    precondition: Precondition = UNCONDITIONAL,
) -> TradeRequest:
    """The approval: ``ACCEPTED`` or ``REJECTED``, linking the trade it names."""
    request = get_request(session, caller, request_id=request_id, lock=True)
    precondition.check(request.etag)
    trade = trades.get_trade(session, caller, trade_id)
    trades.require_changeable_by(caller, trade)
    if request.status != RequestStatus.PENDING:
        if request.status == status and request.trade_id == trade["id"]:
            return request  # the same answer again: nothing changes
        answer = f"{request.status} with another trade" if request.status == status else status
        raise Conflict(
            f"The trade request is {request.status} already and cannot become {answer}.",
            code="trade_request_decided",
        )
    before = history_snapshot(request)
    request.status = status
    request.trade_id = trade["id"]
    request.comment = comment
    request.updated_at = utcnow()
    session.add(request)
    guarded_flush(session)
    _record(session, caller, request, before)
    return request


def linked_trades(tenant_id: str, request_ids: Sequence[str], statuses: Sequence[str]) -> Any:
    """The condition "the trade is linked to a request of the tenant with one of these ids
    and one of these statuses" (either sequence empty: any), for the negotiations list."""
    table = TradeRequest.__table__  # type: ignore[attr-defined]
    conditions = [table.c.tenant_id == tenant_id, table.c.trade_id == trades.TABLE.c.id]
    if request_ids:
        conditions.append(table.c.id.in_(request_ids))
    if statuses:
        conditions.append(table.c.status.in_(statuses))
    return exists().where(and_(*conditions))


def request_history(
    session: Session, caller: Caller, *, request_id: str, limit: int, after: int | None = None
) -> tuple[list[ChangeEntry], int | None]:
    """The request's changes, oldest first; ``after`` is the last version of the previous
    page."""
    request = get_request(session, caller, request_id=request_id)
    entries, _total = history_page(
        session,
        resource_type=RESOURCE,
        resource_id=str(request.pk),
        limit=limit + 1,
        after_version=after or 0,
    )
    next_cursor = entries[limit - 1].version if len(entries) > limit else None
    return entries[:limit], next_cursor
