"""The change history of versioned resources: one row per create or update.

``record_change`` is called by the domain function that makes the change, on the same
session, so the entry commits or rolls back with the change itself: a refused or failed
update leaves no entry. An entry names the resource (type, id, tenant), the version the
change produced, when, who (the token's tenant, user and token id, never the token; shown
as a label, ``actor_label``, never the id), the service's own request id and the caller's
``X-Request-Id`` apart (a caller cannot write its own text as the service's id),
and a JSON snapshot of the resource's fields before (null for a create) and
after. Nothing in the API writes or deletes entries.

Any surface plugs in with its own ``resource_type`` (``"trade"``, ``"strategy_purchase"``,
``"offset_purchase"``...) and reads pages with ``history_page``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, Column, Index, Integer, Text, func, insert
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.types import UTCDateTime, utcnow
from tradepost import jsonio


class ChangeEntry(SQLModel, table=True):
    __tablename__ = "change_history"
    __table_args__ = (
        Index("ix_change_history_resource", "resource_type", "resource_id", "version"),
    )

    pk: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    resource_type: str = Field(max_length=32)
    resource_id: str = Field(max_length=64)
    tenant_id: str = Field(max_length=64)
    version: int
    action: str = Field(max_length=16)  # create | update
    changed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor_tenant_id: str = Field(max_length=64)
    actor_user_id: str | None = Field(default=None, max_length=64)
    actor_token_id: int | None = Field(default=None)
    request_id: str | None = Field(default=None, max_length=128)
    client_request_id: str | None = Field(default=None, max_length=128)
    before_json: str | None = Field(default=None, sa_column=Column(Text))
    after_json: str = Field(sa_column=Column(Text, nullable=False))


def record_change(
    session: Session,
    *,
    resource_type: str,
    resource_id: str,
    tenant_id: str,
    version: int,
    caller: Caller,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """Insert one entry in the caller's transaction (``before`` None means a create).

    A plain INSERT on the session's connection: an entry is never read back or changed
    in the transaction that writes it, so the ORM's unit of work would only add cost.
    """
    session.connection().execute(
        _INSERT_ENTRY,
        entry_values(
            resource_type=resource_type,
            resource_id=resource_id,
            tenant_id=tenant_id,
            version=version,
            caller=caller,
            before=before,
            after=after,
        ),
    )


def entry_values(
    *,
    resource_type: str,
    resource_id: str,
    tenant_id: str,
    version: int,
    caller: Caller,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> dict[str, Any]:
    """The columns of one entry (for a statement that inserts it along with the change)."""
    principal = caller.principal
    return {
        "resource_type": resource_type,
        "resource_id": resource_id,
        "tenant_id": tenant_id,
        "version": version,
        "action": "create" if before is None else "update",
        "changed_at": utcnow(),
        "actor_tenant_id": principal.tenant_id,
        "actor_user_id": principal.user_id,
        "actor_token_id": principal.token_id or None,
        "request_id": caller.request_id or None,
        "client_request_id": caller.client_request_id or None,
        "before_json": None if before is None else jsonio.dumps(before).decode(),
        "after_json": jsonio.dumps(after).decode(),
    }


ENTRIES = ChangeEntry.__table__  # type: ignore[attr-defined]
_INSERT_ENTRY = insert(ChangeEntry.__table__)  # type: ignore[attr-defined]


class Versioned(Protocol):
    id: str
    tenant_id: str
    version: int


def record_row_change(
    session: Session,
    resource_type: str,
    row: Versioned,
    caller: Caller,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """``record_change`` for a versioned row, as it is after the flush."""
    record_change(
        session,
        resource_type=resource_type,
        resource_id=row.id,
        tenant_id=row.tenant_id,
        version=row.version,
        caller=caller,
        before=before,
        after=after,
    )


def history_page(
    session: Session,
    *,
    resource_type: str,
    resource_id: str,
    limit: int,
    offset: int = 0,
    after_version: int = 0,
) -> tuple[list[ChangeEntry], int]:
    """Entries oldest first: ``limit`` of them, skipping ``offset`` entries or those up to
    ``after_version`` (a cursor); and how many entries the resource has in all."""
    where = (ChangeEntry.resource_type == resource_type, ChangeEntry.resource_id == resource_id)
    rows = session.exec(
        select(ChangeEntry)
        .where(*where, ChangeEntry.version > after_version)
        .order_by(ChangeEntry.version, ChangeEntry.pk)  # type: ignore[arg-type]
        .offset(offset)
        .limit(limit)
    )
    total = session.exec(select(func.count()).select_from(ChangeEntry).where(*where)).one()
    return list(rows), total


def snapshot(entry: ChangeEntry) -> tuple[Any, Any]:
    """``(before, after)`` ready for ``jsonio.dumps``, without re-parsing the stored JSON."""
    before = None if entry.before_json is None else jsonio.raw(entry.before_json)
    return before, jsonio.raw(entry.after_json)


USER_TOKEN = "user token"  # noqa: S105 (a label)
TENANT_TOKEN = "tenant-wide token"  # noqa: S105 (a label)
PUBLIC_LINK = "public link"
OPERATOR = "operator"
ACTORS = (USER_TOKEN, TENANT_TOKEN, PUBLIC_LINK, OPERATOR)


def actor_label(entry: ChangeEntry) -> str:
    """How the change was made, without the token's internal id (which would let one
    user of a tenant tell a colleague's credentials apart): a user's token, a
    tenant-wide token, a public link (the trade accept link), or the operator (the CLI)."""
    if entry.actor_token_id is None:
        return PUBLIC_LINK if entry.actor_user_id else OPERATOR
    return USER_TOKEN if entry.actor_user_id else TENANT_TOKEN


def snake_case_json(entry: ChangeEntry) -> dict[str, Any]:
    """An entry as the snake_case surfaces (Strategies v0, carbon offsets v2) show it."""
    before, after = snapshot(entry)
    return {
        "version": entry.version,
        "action": entry.action,
        "changed_at": entry.changed_at,
        "principal": {
            "tenant_id": entry.actor_tenant_id,
            "user_id": entry.actor_user_id,
            "actor": actor_label(entry),
        },
        "request_id": entry.request_id,
        "client_request_id": entry.client_request_id,
        "before": before,
        "after": after,
    }
