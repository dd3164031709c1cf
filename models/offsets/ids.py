"""Ids and surrogate keys shared by the carbon-offset tables."""

from __future__ import annotations

import secrets
import string
from typing import Any

from sqlalchemy import BigInteger, Column, Integer
from sqlmodel import Field

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """``purchase_`` + 16 random letters and digits (95 bits): unguessable, URL-safe."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def surrogate_pk() -> Any:
    """The BIGINT (SQLite: INTEGER, for its rowid) primary key every offset table has."""
    return Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
