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
from models.common.tokens import STRATEGIES, ApiToken, mint_token
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
LOGIN_KIND = STRATEGIES  # login tokens are the Strategies API's credentials


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
    password_hash: str,
    name: str = "",
    retailer_ids: tuple[str, ...] = (),
) -> Customer:
    """A customer with a password hashed by ``hash_password`` before the transaction
    (hashing takes ~100 ms of CPU: never while holding a write transaction)."""
    customer = Customer(
        tenant_id=tenant_id,
        username=username,
        name=name,
        email=email.strip().lower(),
        password_hash=password_hash,
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


def hash_password(password: str) -> str:
    """An Argon2id hash (~100 ms of CPU): call it off the loop, outside any transaction
    (``tradepost.http.passwords``)."""
    return _hasher.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    """Whether ``password`` matches ``hashed`` (~100 ms of CPU, same rules as above)."""
    try:
        return bool(_hasher.verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a password check needs of a customer, read in a short transaction of its own."""

    customer_id: int
    tenant_id: str
    username: str
    email: str
    password_hash: str


def _credentials(customer: Customer) -> Credentials:
    assert customer.id is not None
    return Credentials(
        customer.id,
        customer.tenant_id,
        customer.username,
        customer.email,
        customer.password_hash,
    )


def find_credentials(session: Session, *, email: str) -> Credentials | None:
    """The customer with this email (case-insensitive), if any.

    Whoever verifies then uses ``DUMMY_HASH`` for an unknown email, so that both paths
    cost one Argon2 verification."""
    customer = session.exec(select(Customer).where(Customer.email == email.strip().lower())).first()
    return None if customer is None else _credentials(customer)


def hash_to_verify(found: Credentials | None) -> str:
    return DUMMY_HASH if found is None else found.password_hash


def check_login(found: Credentials | None, verified: bool) -> Credentials:
    """The customer whose password was verified, else 401 with the document's text."""
    if found is None or not verified:
        reason = EMAIL_NOT_FOUND if found is None else INCORRECT_PASSWORD
        raise Unauthenticated(reason, code=LOGIN_FAILED)
    return found


def issue_login(session: Session, found: Credentials, *, lifetime: timedelta) -> LoginGrant:
    """A fresh expiring token for the customer whose password was verified against
    ``found.password_hash``; 401 if the password changed since (the check was against an
    old one) or the customer has no retailer to act for."""
    customer = session.get(Customer, found.customer_id)
    if customer is None or customer.password_hash != found.password_hash:
        raise Unauthenticated(INCORRECT_PASSWORD, code=LOGIN_FAILED)
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


def credentials_of(session: Session, caller: Caller) -> Credentials:
    """The customer the caller's token acts for; 403 for a token without one."""
    customer = (
        None
        if caller.user_id is None
        else find_customer(session, tenant_id=caller.tenant_id, username=caller.user_id)
    )
    if customer is None:
        raise Forbidden(retailers.NO_PERMISSION)
    return _credentials(customer)


SAME_PASSWORD = "The new password must be different from the old password."  # noqa: S105


def check_new_password(
    found: Credentials,
    *,
    old_verified: bool,
    old_password: str,
    new_password: str,
    new_password_confirmation: str,
) -> None:
    """The password change's refusals, each naming one field, as the document's 400s do:
    the old password first, then the confirmation, then what makes the new one weak
    (including being the current password)."""
    if not old_verified:
        raise _refused("old_password", "Old password is incorrect.")
    if new_password != new_password_confirmation:
        raise _refused(
            "new_password_confirmation", "Password confirmation does not match new password."
        )
    problems = weak_password_problems(new_password, email=found.email)
    if new_password == old_password:  # the old one was just verified: it is the current one
        problems.append(SAME_PASSWORD)
    if problems:
        raise _refused("new_password", *problems)


def set_password(session: Session, found: Credentials, *, new_hash: str) -> None:
    """Store the new hash and revoke every login token of the customer, provided the
    password is still the one verified (a concurrent change won: the old password given
    is no longer current, 400)."""
    changed = session.exec(
        update(Customer)
        .where(
            Customer.id == found.customer_id,  # type: ignore[arg-type]
            Customer.password_hash == found.password_hash,  # type: ignore[arg-type]
        )
        .values(password_hash=new_hash)
    )
    if changed.rowcount != 1:
        raise _refused("old_password", "Old password is incorrect.")
    revoke_login_tokens(session, tenant_id=found.tenant_id, user_id=found.username)


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
