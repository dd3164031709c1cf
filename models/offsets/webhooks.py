"""Webhooks of the carbon-offset API v2: subscriptions, and the events written for them.

Rules (also written in openapi.yaml):
- A webhook belongs to one API key's tenant; another tenant's webhooks do not exist (404).
- ``kind`` picks the events: ``order`` (a purchase entered a state: created, cancelled) and
  ``confirmation_document_available`` / ``certificate_document_available`` (a document's
  file was generated). At most ``MAX_WEBHOOKS`` per tenant.
- The ``signing_key`` is made here, shown once (at creation) and kept to sign deliveries.
- Events are written by the change that causes them, with it (in its transaction, or in
  its one statement: ``document_events``), as an outbox: one ``WebhookDelivery`` row per
  subscribed webhook, all with the event's id. Its body is fixed when written, so every
  attempt sends (and signs) the very same bytes.
- ``failed_attempts`` counts consecutive failed deliveries; a success resets it.
  Delivery counters are not client changes: they move no version (no new ``ETag``).
"""

from __future__ import annotations

import base64
import functools
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    union_all,
)
from sqlalchemy import insert as sql_insert
from sqlalchemy import select as sql_select
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Field, Session, SQLModel, func, select

from models.common.caller import Caller
from models.common.history import record_row_change
from models.common.optimistic import Also, Gate, gated, numbered, parameters
from models.common.types import UTCDateTime, utcnow
from tradepost import jsonio
from tradepost.conditional import UNCONDITIONAL, Precondition, etag, guarded_flush
from tradepost.errors import NotFound, Unprocessable


class EventPurchase(Protocol):
    """What an event carries of a purchase (``models.offsets.purchases.OffsetPurchase``
    has it; this module does not import the table, which emits events itself)."""

    id: str
    tenant_id: str
    state: str
    payment_method: str
    external_reference: str | None
    carbon_quantity: Decimal
    carbon_unit: str
    total: int
    currency: str
    metadata_json: str


class EventFile(Protocol):
    """What an event carries of a document file (``OffsetFile``)."""

    id: str
    filename: str
    purpose: str
    size: int


KINDS = ("order", "confirmation_document_available", "certificate_document_available")
MAX_WEBHOOKS = 20
RESOURCE = "webhook"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def _pk() -> Any:
    return Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )


_VERSION = Column("version", Integer, nullable=False)


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_tenant_kind", "tenant_id", "kind"),)
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = _pk()
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    kind: str = Field(max_length=48)
    endpoint_url: str = Field(max_length=2000)
    signing_key: str = Field(max_length=64)
    failed_attempts: int = Field(default=0)
    last_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_failed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: the outbox row, until it is delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "state"),
    )

    pk: int | None = _pk()
    event_id: str = Field(max_length=40)
    webhook_id: str = Field(max_length=36)
    tenant_id: str = Field(max_length=64)
    kind: str = Field(max_length=48)
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=16)  # pending | delivered | failed
    attempts: int = Field(default=0)  # attempts started (counted when claimed)
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    lease_token: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=300)


def history_snapshot(hook: Webhook) -> dict[str, Any]:
    """What the change history keeps: the configuration, never the signing key."""
    return {"kind": hook.kind, "endpoint_url": hook.endpoint_url}


# Subscriptions


def new_signing_key() -> str:
    """32 random bytes, base64 (the documented example's shape). Used as given, as text."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def create_webhook(
    session: Session,
    caller: Caller,
    values: dict[str, Any],
) -> Webhook:
    count = session.exec(
        select(func.count()).select_from(Webhook).where(Webhook.tenant_id == caller.tenant_id)
    ).one()
    if count >= MAX_WEBHOOKS:
        raise Unprocessable(
            f"At most {MAX_WEBHOOKS} webhooks per API key; delete one first.",
            code="webhook_limit_reached",
        )
    now = utcnow()
    hook = Webhook(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        kind=values["kind"],
        endpoint_url=values["endpoint_url"],
        signing_key=new_signing_key(),
        created_at=now,
        updated_at=now,
    )
    session.add(hook)
    session.flush()
    record_row_change(session, RESOURCE, hook, caller, None, history_snapshot(hook))
    return hook


def list_webhooks(session: Session, caller: Caller) -> list[Webhook]:
    statement = select(Webhook).where(Webhook.tenant_id == caller.tenant_id)
    return list(session.exec(statement.order_by(Webhook.pk)))  # type: ignore[arg-type]


def get_webhook(
    session: Session, caller: Caller, webhook_id: str, *, lock: bool = False
) -> Webhook:
    """The one scoped getter."""
    statement = select(Webhook).where(
        Webhook.id == webhook_id, Webhook.tenant_id == caller.tenant_id
    )
    found = session.exec(statement.with_for_update() if lock else statement).first()
    if found is None:
        raise NotFound(f"No webhook found with id {webhook_id}.", resource=("webhook", webhook_id))
    return found


def update_webhook(
    session: Session,
    caller: Caller,
    webhook_id: str,
    values: dict[str, Any],
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> Webhook:
    """``kind`` and/or ``endpoint_url``; what is left out stays. Pending deliveries go to
    the new URL; events already written keep their kind."""
    hook = get_webhook(session, caller, webhook_id, lock=True)
    precondition.check(hook.etag)
    before = history_snapshot(hook)
    for name in ("kind", "endpoint_url"):
        if name in values:
            setattr(hook, name, values[name])
    hook.updated_at = utcnow()
    session.add(hook)
    guarded_flush(session)
    record_row_change(session, RESOURCE, hook, caller, before, history_snapshot(hook))
    return hook


def delete_webhook(
    session: Session,
    caller: Caller,
    webhook_id: str,
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> None:
    """Removes the webhook and its outbox rows: nothing more is sent to it."""
    hook = get_webhook(session, caller, webhook_id, lock=True)
    precondition.check(hook.etag)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))  # type: ignore[arg-type]
    session.execute(delete(Webhook).where(Webhook.pk == hook.pk))  # type: ignore[arg-type]


# Events, written with the change that causes them


def emit_order(session: Session, purchase: EventPurchase) -> None:
    """``order``: the purchase has entered ``purchase.state``."""
    _events([_event(purchase, "order", {})]).run(session)


def emit_documents(
    session: Session, purchase: EventPurchase, files: Iterable[EventFile], names: Iterable[str]
) -> None:
    """``<document>_available`` for each file of ``names`` (documents just generated)."""
    events = document_events(purchase, files, names)
    if events is not None:
        events.run(session)


def document_events(
    purchase: EventPurchase, files: Iterable[EventFile], names: Iterable[str]
) -> Also | None:
    """``emit_documents``'s events as one statement for a write to run with its change
    (``models.common.optimistic``); None when there are none."""
    wanted = set(names)
    events = [
        _event(purchase, f"{file.purpose}_available", {"file": _file_data(file)})
        for file in files
        if file.purpose in wanted
    ]
    return _events(events) if events else None


def _event(purchase: EventPurchase, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """One event's outbox columns but the webhook: the same for every subscriber."""
    now = utcnow()
    event_id = f"evt_{secrets.token_hex(16)}"
    body = jsonio.dumps(
        {
            "data": {
                "id": event_id,
                "kind": kind,
                "created_at": now,
                "external_reference": purchase.external_reference,
                "purchase": _purchase_data(purchase),
                **data,
            }
        }
    ).decode()
    return {
        "event_id": event_id,
        "tenant_id": purchase.tenant_id,
        "kind": kind,
        "body": body,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _events(events: list[dict[str, Any]]) -> Also:
    """The outbox rows of ``events``, in order: one per event and webhook of the event's
    tenant subscribed to its kind, written by one ``INSERT ... SELECT FROM webhooks``
    (none when nobody subscribed)."""
    return Also(_outbox_insert(len(events)), numbered(events))


_OUTBOX = WebhookDelivery.__table__  # type: ignore[attr-defined]
_HOOKS = Webhook.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = (
    "event_id",
    "tenant_id",
    "kind",
    "body",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
)


@functools.cache
def _outbox_insert(count: int) -> Callable[[Gate, str], UpdateBase]:
    """The statement writing ``count`` events' outbox rows (made once per count)."""

    def build(gate: Gate, prefix: str) -> UpdateBase:
        rows = []
        for index in range(count):
            event = dict(
                zip(
                    _EVENT_COLUMNS,
                    parameters(_OUTBOX, _EVENT_COLUMNS, f"{prefix}{index}_"),
                    strict=True,
                )
            )
            rows.append(
                sql_select(*event.values(), _HOOKS.c.id).where(
                    _HOOKS.c.tenant_id == event["tenant_id"],
                    _HOOKS.c.kind == event["kind"],
                    *gated(gate),
                )
            )
        source = rows[0] if count == 1 else union_all(*rows)
        return sql_insert(_OUTBOX).from_select([*_EVENT_COLUMNS, "webhook_id"], source)

    return build


def _purchase_data(purchase: EventPurchase) -> dict[str, Any]:
    return {
        "id": purchase.id,
        "state": purchase.state,
        "payment_method": purchase.payment_method,
        "external_reference": purchase.external_reference,
        "carbon_quantity": purchase.carbon_quantity,
        "carbon_unit": purchase.carbon_unit,
        "total": purchase.total,
        "currency": purchase.currency,
        "metadata": jsonio.raw(purchase.metadata_json),
    }


def _file_data(file: EventFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "filename": file.filename,
        "purpose": file.purpose,
        "size": file.size,
        "type": "pdf",
    }
