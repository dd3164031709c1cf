"""Purchases of the Strategies API v0 and the rules for storing strategy outputs.

Rules (also written in openapi.yaml):
- A purchase belongs to one customer: a user (the path's ``{user}``) within a tenant,
  and is submitted for one of that user's retailers. A user-bound token acts only for its
  own user; a tenant-wide token for any user of its tenant. Submitting for someone else,
  or for a retailer the user does not belong to, is 403; another customer's purchase is
  404.
- Status moves freely between ``pending``, ``in_progress`` and ``failed``, and may become
  ``completed``; a completed purchase stays completed (a PUT may restate its outputs, but
  any other status is 409). An omitted ``status`` or ``error`` is left as it is.
- ``outputs`` is stored exactly as sent (the structured per-model list, or any JSON object)
  as serialised JSON, so reading it back never re-parses a year of data.
- Every write bumps ``version`` in a guarded UPDATE (``WHERE version = :v``); an update
  carrying ``If-Match`` applies only to the version it names (else 412); one without
  runs again from a fresh read when the version moved since its read (nothing is lost).
  Submissions and updates are recorded in the change history with the change itself
  (the same statement or transaction); bulky payloads (rows, outputs) are recorded as
  their size and SHA-256 digest, not copied.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text
from sqlmodel import Field, Session, SQLModel, select

from models.common import optimistic
from models.common.caller import Caller
from models.common.history import ChangeEntry, entry_values, history_page, record_row_change
from models.common.types import UTCDateTime, utcnow
from models.strategies import retailers
from tradepost import jsonio
from tradepost.conditional import UNCONDITIONAL, Precondition, etag
from tradepost.errors import Conflict, FieldError, InvalidRequest, NotFound

STATUSES = ("pending", "in_progress", "completed", "failed")
FINAL = "completed"
RESOURCE = "strategy_purchase"

_VERSION = Column("version", Integer, nullable=False)


class StrategyPurchase(SQLModel, table=True):
    __tablename__ = "strategy_purchases"
    __table_args__ = (Index("ix_strategy_purchases_owner", "tenant_id", "user_id", "pk"),)
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    retailer_id: str | None = Field(default=None, max_length=64)  # None: submitted before 0007
    status: str = Field(max_length=16)
    error: str = Field(sa_column=Column(Text, nullable=False))
    rows_json: str = Field(sa_column=Column(Text, nullable=False))
    rows_uploaded: int
    outputs_json: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


def _digest(serialised: str | None) -> dict[str, Any] | None:
    if serialised is None:
        return None
    data = serialised.encode()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def history_snapshot(purchase: StrategyPurchase) -> dict[str, Any]:
    """What the change history keeps of a purchase: its state, and digests of its data."""
    return {
        "user_id": purchase.user_id,
        "retailer_id": purchase.retailer_id,
        "status": purchase.status,
        "error": purchase.error,
        "rows_uploaded": purchase.rows_uploaded,
        "purchase": _digest(purchase.rows_json),
        "outputs": _digest(purchase.outputs_json),
    }


def _record(session: Session, caller: Caller, purchase: StrategyPurchase, before: Any) -> None:
    record_row_change(session, RESOURCE, purchase, caller, before, history_snapshot(purchase))


def submit_purchase(
    session: Session,
    caller: Caller,
    user: str,
    rows: list[dict[str, Any]],
    *,
    retailer_id: str,
) -> StrategyPurchase:
    retailers.authorize(session, caller, user, retailer_id)
    now = utcnow()
    purchase = StrategyPurchase(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        user_id=user,
        retailer_id=retailer_id,
        status="pending",
        error="",
        rows_json=jsonio.dumps(rows).decode(),
        rows_uploaded=len(rows),
        created_at=now,
        updated_at=now,
    )
    session.add(purchase)
    session.flush()
    _record(session, caller, purchase, None)
    return purchase


def get_purchase(session: Session, caller: Caller, user: str, purchase_id: str) -> StrategyPurchase:
    """The one scoped getter: anything the caller may not see does not exist."""
    if caller.is_user_token and caller.user_id != user:
        raise _not_found()
    statement = select(StrategyPurchase).where(
        StrategyPurchase.id == purchase_id,
        StrategyPurchase.tenant_id == caller.tenant_id,
        StrategyPurchase.user_id == user,
    )
    purchase = session.exec(statement).first()
    if purchase is None:
        raise _not_found()
    return purchase


def _not_found() -> NotFound:
    return NotFound("Purchase not found.")


def check_transition(current: str, new: str) -> None:
    if current == FINAL and new != FINAL:
        raise Conflict(f"A completed purchase cannot become {new!r}.")


def update_purchase(
    session: Session,
    caller: Caller,
    user: str,
    purchase_id: str,
    update: dict[str, Any],
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> StrategyPurchase:
    """Store ``update["outputs"]`` (and ``status``/``error`` when present).

    ``outputs`` is popped from ``update`` and serialised first, so that a year of parsed
    outputs is freed before the row is written. The purchase is read without a lock and
    written with one statement guarded by the version read (``models.common.optimistic``:
    two round trips on PostgreSQL, in autocommit mode).
    """
    serialised = _serialise_outputs(update.pop("outputs"))
    status: str | None = update.get("status")
    error: str | None = update.get("error")

    def attempt() -> StrategyPurchase | None:
        purchase = get_purchase(session, caller, user, purchase_id)
        session.expunge(purchase)  # changed here, written by ``apply``: never flushed
        precondition.check(purchase.etag)
        before = history_snapshot(purchase)
        read_version = purchase.version
        if status is not None:
            check_transition(purchase.status, status)
            purchase.status = status
        if error is not None:
            purchase.error = error
        purchase.outputs_json = serialised
        purchase.updated_at = utcnow()
        purchase.version = read_version + 1
        entry = entry_values(
            resource_type=RESOURCE,
            resource_id=purchase.id,
            tenant_id=purchase.tenant_id,
            version=purchase.version,
            caller=caller,
            before=before,
            after=history_snapshot(purchase),
        )
        written = optimistic.apply(
            session,
            _TABLE,
            pk=purchase.pk or 0,
            version=read_version,
            values={name: getattr(purchase, name) for name in _UPDATED},
            entry=entry,
        )
        return purchase if written else None

    return optimistic.retrying(attempt, precondition)


_TABLE = StrategyPurchase.__table__  # type: ignore[attr-defined]
# What the PUT sets: always the same columns (unchanged ones to their value), so that its
# statement is built and prepared once.
_UPDATED = ("status", "error", "outputs_json", "updated_at", "version")


def _serialise_outputs(outputs: Any) -> str:
    try:
        if isinstance(outputs, dict):  # structured outputs are bounded by the schema
            jsonio.require_finite(outputs)
        return jsonio.dumps(outputs).decode()
    except jsonio.JSONError as exc:
        raise InvalidRequest(
            f"outputs cannot be stored: {exc}.",
            fields=[FieldError("body", "outputs", f"cannot be stored: {exc}")],
        ) from None


def outputs_of(purchase: StrategyPurchase) -> Any:
    """The stored outputs, ready for ``jsonio.dumps`` (``[]`` before the first update)."""
    if purchase.outputs_json is None:
        return []
    return jsonio.raw(purchase.outputs_json)


def strategy_output(purchase: StrategyPurchase, idmodel: str | None = None) -> Any:
    """The read's ``strategy_output``: every stored model object, or the one ``idmodel``
    names (``"1"`` names ``1``), or the documented error object when none matches.

    Stored outputs are a list of model objects, or one free-form object, which is a match
    only if it has the ``idmodel`` itself (the documents leave that case open).
    """
    if idmodel is None:
        return outputs_of(purchase)
    outputs = jsonio.loads(purchase.outputs_json) if purchase.outputs_json is not None else []
    candidates = outputs if isinstance(outputs, list) else [outputs]
    for entry in candidates:
        if isinstance(entry, dict) and _names_model(entry.get("idmodel"), idmodel):
            return entry
    return {"error": f"idmodel {idmodel} not found in strategy_output"}


def _names_model(value: Any, idmodel: str) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and str(value) == idmodel) or value == idmodel


def purchase_history(
    session: Session, caller: Caller, user: str, purchase_id: str, *, limit: int, offset: int
) -> tuple[list[ChangeEntry], int]:
    """The purchase's changes, oldest first, and how many there are in all."""
    purchase = get_purchase(session, caller, user, purchase_id)
    return history_page(
        session, resource_type=RESOURCE, resource_id=purchase.id, limit=limit, offset=offset
    )
