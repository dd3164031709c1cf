"""The trade tracking pipeline of the Trace API: sampling approval, finances, payment.

Rules (also written in openapi.yaml, tag ``trade-tracking-pipeline``):
- One record per trade and process flow (``trade``, ``processFlow``; a call without a
  process flow is the trade's record without one). The trade must be a trade of the
  caller's tenant (else 404, as the trades pages answer) that the caller may change (the
  user responsible for it or a tenant-wide token, else 403).
- Each of the three calls sets its own stage (``STAGES``): the fields sent
  (``amount``, ``proofOfPayment``, ``testResult``, ``status``, ``dateTimeStamp``) replace
  that stage's, the fields left out keep theirs; the other stages stay. The first call
  for a trade and process flow creates the record. The pages document no order between
  the stages, so none is enforced.
- ``userId``, ``tenantId`` and ``countryCode`` in the body are informational.
- The record is versioned (``ETag``/``If-Match``; ``If-Match`` on a record that does not
  exist yet is 412) and every change is recorded in the change history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.history import record_row_change
from models.common.types import UTCDateTime, surrogate_pk, utcnow
from models.trades import trades
from tradepost import jsonio
from tradepost.conditional import UNCONDITIONAL, Precondition, etag, guarded_flush, stale
from tradepost.errors import Conflict

RESOURCE = "trade_pipeline"

# The API's path of each stage -> the column holding it.
STAGES = {
    "sampling-approval": "sampling_approval",
    "finances": "finances",
    "confirm-payment": "payment_confirmation",
}
STAGE_FIELDS = ("amount", "proofOfPayment", "testResult", "status", "dateTimeStamp")

_VERSION = Column("version", Integer, nullable=False)


class TradePipeline(SQLModel, table=True):
    __tablename__ = "trade_pipelines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "trade_id", "process_flow", name="uq_trade_pipelines_flow"),
    )
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    country_code: str | None = Field(default=None, max_length=8)
    trade_id: str = Field(sa_column=Column(String(36), nullable=False))
    process_flow: str = Field(sa_column=Column(String(200), nullable=False))  # "": none
    # Each stage as last set (JSON text, so that ``amount`` stays an exact decimal).
    sampling_approval: str | None = Field(default=None, sa_column=Column(Text))
    finances: str | None = Field(default=None, sa_column=Column(Text))
    payment_confirmation: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


def pipeline_fields(pipeline: TradePipeline) -> dict[str, Any]:
    """The one rendering of a record (the envelope's ``data``)."""
    return {
        "pipelineId": pipeline.id,
        "trade": pipeline.trade_id,
        "processFlow": pipeline.process_flow or None,
        "samplingApproval": jsonio.raw_or_none(pipeline.sampling_approval),
        "finances": jsonio.raw_or_none(pipeline.finances),
        "paymentConfirmation": jsonio.raw_or_none(pipeline.payment_confirmation),
        "userId": pipeline.user_id,
        "tenantId": pipeline.tenant_id,
        "countryCode": pipeline.country_code,
        "version": pipeline.version,
        "createdAt": pipeline.created_at,
        "updatedAt": pipeline.updated_at,
    }


def history_snapshot(pipeline: TradePipeline) -> dict[str, Any]:
    snapshot = pipeline_fields(pipeline)
    for name in ("pipelineId", "version", "createdAt", "updatedAt"):
        del snapshot[name]
    return snapshot


def record_stage(
    session: Session,
    caller: Caller,
    *,
    stage: str,
    values: dict[str, Any],
    precondition: Precondition = UNCONDITIONAL,
) -> TradePipeline:
    """Sets one stage of the record of ``values["trade"]`` and ``values["processFlow"]``."""
    trade = trades.get_trade(session, caller, values["trade"])
    trades.require_changeable_by(caller, trade)
    process_flow = values.get("processFlow") or ""
    statement = select(TradePipeline).where(
        TradePipeline.tenant_id == caller.tenant_id,
        TradePipeline.trade_id == trade["id"],
        TradePipeline.process_flow == process_flow,
    )
    pipeline = session.exec(statement.with_for_update()).first()
    column = STAGES[stage]
    sent = {name: values[name] for name in STAGE_FIELDS if name in values}
    if pipeline is None:
        if precondition.if_match is not None:
            raise stale()
        return _create(session, caller, trade["id"], process_flow, column, sent)
    precondition.check(pipeline.etag)
    before = history_snapshot(pipeline)
    stored = jsonio.loads(getattr(pipeline, column) or "{}", exact=True)
    setattr(pipeline, column, jsonio.dumps({**stored, **sent}).decode())
    pipeline.updated_at = utcnow()
    session.add(pipeline)
    guarded_flush(session)
    record_row_change(session, RESOURCE, pipeline, caller, before, history_snapshot(pipeline))
    return pipeline


def _create(
    session: Session,
    caller: Caller,
    trade_id: str,
    process_flow: str,
    column: str,
    sent: dict[str, Any],
) -> TradePipeline:
    now = utcnow()
    pipeline = TradePipeline(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        user_id=caller.user_id or "",
        country_code=caller.country_code,
        trade_id=trade_id,
        process_flow=process_flow,
        created_at=now,
        updated_at=now,
    )
    setattr(pipeline, column, jsonio.dumps(sent).decode())
    session.add(pipeline)
    try:
        session.flush()
    except IntegrityError:  # the same trade and process flow's first call, concurrently
        raise Conflict(
            "This trade and process flow's pipeline was created concurrently; retry.",
            code="concurrent_create",
        ) from None
    record_row_change(session, RESOURCE, pipeline, caller, None, history_snapshot(pipeline))
    return pipeline
