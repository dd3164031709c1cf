"""Strategies API customers: people who log in with email and password.

Passwords are stored only as Argon2id hashes. A customer is a user (``username``) within
a tenant; the tokens minted at login act for exactly that user and expire.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from models.tokens import ApiToken, mint_token
from models.types import UTCDateTime, utcnow

_hasher = PasswordHasher()
# Verified when the email is unknown, so that both paths cost one Argon2 verification.
_DUMMY_HASH = _hasher.hash("tradepost: no such customer")


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    username: str = Field(max_length=64)
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def create_customer(
    session: Session, *, tenant_id: str, username: str, email: str, password: str
) -> Customer:
    customer = Customer(
        tenant_id=tenant_id,
        username=username,
        email=email.strip().lower(),
        password_hash=_hasher.hash(password),
        created_at=utcnow(),
    )
    session.add(customer)
    session.flush()
    return customer


def list_customers(session: Session, *, tenant_id: str | None = None) -> list[Customer]:
    statement = select(Customer).order_by(Customer.id)  # type: ignore[arg-type]
    if tenant_id is not None:
        statement = statement.where(Customer.tenant_id == tenant_id)
    return list(session.exec(statement))


def authenticate(session: Session, *, email: str, password: str) -> Customer | None:
    """The customer with these credentials, in constant time with respect to the email."""
    customer = session.exec(select(Customer).where(Customer.email == email.strip().lower())).first()
    try:
        _hasher.verify(customer.password_hash if customer else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return customer


def login(
    session: Session, *, email: str, password: str, lifetime: timedelta
) -> tuple[str, ApiToken] | None:
    """A fresh expiring token for the customer, or None for bad credentials."""
    customer = authenticate(session, email=email, password=password)
    if customer is None:
        return None
    return mint_token(
        session,
        tenant_id=customer.tenant_id,
        user_id=customer.username,
        expires_at=utcnow() + lifetime,
        kind="login",
    )
