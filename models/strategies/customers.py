"""Strategies API customers: people who log in with email and password.

Passwords are stored only as Argon2id hashes. A customer is a user (``username``) within
a tenant, with a display name and the retailers it belongs to (``models.strategies.retailers``); the
tokens minted at login act for exactly that user and expire.

Login answers the documents' three 401 texts (unknown email, wrong password, an account
with no retailer to act for); the last is told only to someone who gave the right
password. Changing the password revokes every login token of the customer in the same
transaction; login tokens are verified against the database on every request
(``tradepost.http.auth``), so the revocation holds at once in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, String, UniqueConstraint, update
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.tokens import ApiToken, mint_token
from models.common.types import UTCDateTime, utcnow
from models.strategies import retailers
from models.strategies.passwords import weak_password_problems
from tradepost.errors import FieldError, Forbidden, InvalidRequest, Unauthenticated

_hasher = PasswordHasher()
# Verified when the email is unknown, so that both paths cost one Argon2 verification.
# A constant made with the hasher's parameters (tests/strategies/test_strategies.py checks
# they still match), not a hash made at import: that cost every process start 0.15 s.
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$UJB0nLWU0/8SFG70G4SzLA"
    "$9bZfK/aEbihuTYWgQdypNiJafWEjsrTJGtCaBWHTz30"
)

LOGIN_FAILED = "login_failed"  # the error code the surface renders as {"error": ...}
EMAIL_NOT_FOUND = "Invalid credentials; email not found."
INCORRECT_PASSWORD = "Invalid credentials; incorrect password."  # noqa: S105 (a message)
NOT_CONFIGURED = "Account not configured. Please contact support."
LOGIN_KIND = "login"


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    username: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


@dataclass(frozen=True, slots=True)
class LoginGrant:
    token: str  # shown once, never stored
    expires_at: datetime
    customer: Customer


def create_customer(
    session: Session,
    *,
    tenant_id: str,
    username: str,
    email: str,
    password: str,
    name: str = "",
    retailer_ids: tuple[str, ...] = (),
) -> Customer:
    customer = Customer(
        tenant_id=tenant_id,
        username=username,
        name=name,
        email=email.strip().lower(),
        password_hash=_hasher.hash(password),
        created_at=utcnow(),
    )
    session.add(customer)
    session.flush()
    for retailer_id in retailer_ids:
        retailers.add_retailer(
            session, tenant_id=tenant_id, user_id=username, retailer_id=retailer_id
        )
    return customer


def list_customers(session: Session, *, tenant_id: str | None = None) -> list[Customer]:
    statement = select(Customer).order_by(Customer.id)  # type: ignore[arg-type]
    if tenant_id is not None:
        statement = statement.where(Customer.tenant_id == tenant_id)
    return list(session.exec(statement))


def find_customer(session: Session, *, tenant_id: str, username: str) -> Customer | None:
    statement = select(Customer).where(
        Customer.tenant_id == tenant_id, Customer.username == username
    )
    return session.exec(statement).first()


def _verified(hashed: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, *, email: str, password: str) -> Customer:
    """The customer with these credentials, else 401 with the document's text for why."""
    customer = session.exec(select(Customer).where(Customer.email == email.strip().lower())).first()
    if not _verified(customer.password_hash if customer else DUMMY_HASH, password):
        reason = INCORRECT_PASSWORD if customer is not None else EMAIL_NOT_FOUND
        raise Unauthenticated(reason, code=LOGIN_FAILED)
    assert customer is not None
    return customer


def login(session: Session, *, email: str, password: str, lifetime: timedelta) -> LoginGrant:
    """A fresh expiring token for the customer; 401 for bad credentials or no retailer."""
    customer = authenticate(session, email=email, password=password)
    if not retailers.retailers_of(session, tenant_id=customer.tenant_id, user_id=customer.username):
        raise Unauthenticated(NOT_CONFIGURED, code=LOGIN_FAILED)
    token, row = mint_token(
        session,
        tenant_id=customer.tenant_id,
        user_id=customer.username,
        expires_at=utcnow() + lifetime,
        kind=LOGIN_KIND,
    )
    assert row.expires_at is not None
    return LoginGrant(token, row.expires_at, customer)


def change_password(
    session: Session,
    caller: Caller,
    *,
    old_password: str,
    new_password: str,
    new_password_confirmation: str,
) -> None:
    """Replace the caller's password and revoke every login token of the customer.

    The caller is the customer its token acts for (a tenant-wide token, or a user with no
    customer account, is 403). Refusals name one field, as the document's 400s do.
    """
    customer = (
        None
        if caller.user_id is None
        else find_customer(session, tenant_id=caller.tenant_id, username=caller.user_id)
    )
    if customer is None:
        raise Forbidden(retailers.NO_PERMISSION)
    if not _verified(customer.password_hash, old_password):
        raise _refused("old_password", "Old password is incorrect.")
    if new_password != new_password_confirmation:
        raise _refused(
            "new_password_confirmation", "Password confirmation does not match new password."
        )
    problems = weak_password_problems(new_password, email=customer.email)
    if problems:
        raise _refused("new_password", *problems)
    customer.password_hash = _hasher.hash(new_password)
    session.add(customer)
    revoke_login_tokens(session, tenant_id=customer.tenant_id, user_id=customer.username)


def revoke_login_tokens(session: Session, *, tenant_id: str, user_id: str) -> None:
    session.exec(
        update(ApiToken)
        .where(
            ApiToken.tenant_id == tenant_id,  # type: ignore[arg-type]
            ApiToken.user_id == user_id,  # type: ignore[arg-type]
            ApiToken.kind == LOGIN_KIND,  # type: ignore[arg-type]
            ApiToken.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .values(revoked_at=utcnow())
    )


def _refused(field: str, *messages: str) -> InvalidRequest:
    return InvalidRequest(
        messages[0], fields=[FieldError("body", field, message) for message in messages]
    )
