"""Retailers of the Strategies API v0: which retailers a customer (a user) acts for.

A retailer is named by its id (the documents' ``retailer_id``/``idretailer``, e.g.
``"123"``) within a tenant. A user belongs to the retailers the CLI gives it
(``tradepost customers create --retailer``); purchases are submitted for one of them and
strategies are configured per user and retailer. Membership is keyed by tenant and user,
not by the customer row, so an API key minted for the user acts for the same retailers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.types import UTCDateTime, utcnow
from tradepost.errors import Forbidden

NO_PERMISSION = "You do not have permission to perform this action."


class CustomerRetailer(SQLModel, table=True):
    __tablename__ = "customer_retailers"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "retailer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    retailer_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def add_retailer(session: Session, *, tenant_id: str, user_id: str, retailer_id: str) -> bool:
    """Make ``user_id`` a member of ``retailer_id``; False when it already was."""
    if is_member(session, tenant_id=tenant_id, user_id=user_id, retailer_id=retailer_id):
        return False
    session.add(
        CustomerRetailer(
            tenant_id=tenant_id, user_id=user_id, retailer_id=retailer_id, created_at=utcnow()
        )
    )
    session.flush()
    return True


def retailers_of(session: Session, *, tenant_id: str, user_id: str) -> list[str]:
    statement = (
        select(CustomerRetailer.retailer_id)
        .where(CustomerRetailer.tenant_id == tenant_id, CustomerRetailer.user_id == user_id)
        .order_by(CustomerRetailer.id)  # type: ignore[arg-type]
    )
    return list(session.exec(statement))


def is_member(session: Session, *, tenant_id: str, user_id: str, retailer_id: str) -> bool:
    statement = select(CustomerRetailer.id).where(
        CustomerRetailer.tenant_id == tenant_id,
        CustomerRetailer.user_id == user_id,
        CustomerRetailer.retailer_id == retailer_id,
    )
    return session.exec(statement).first() is not None


def authorize(session: Session, caller: Caller, user: str, retailer_id: str) -> None:
    """403 unless the caller may act for ``user`` and ``user`` belongs to the retailer.

    A retailer that does not exist answers the same as another customer's: its existence
    is not revealed.
    """
    if caller.is_user_token and caller.user_id != user:
        raise Forbidden(NO_PERMISSION)
    if not is_member(session, tenant_id=caller.tenant_id, user_id=user, retailer_id=retailer_id):
        raise Forbidden(NO_PERMISSION)
