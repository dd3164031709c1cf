"""Strategy configurations of the Strategies API v0, one per user and retailer.

The documents say only that the strategy definitions ``GET /api/v0/strategies/{user}``
returns "depend on configuration" and are a JSON object or array. Here an operator stores
that document per user and retailer (``tradepost strategies set``), and the API returns
it exactly as stored. A user and retailer with nothing configured get ``[]`` (no
strategies). Each set is recorded in the change history (size and SHA-256 of the
document, not the document), and the row carries a version for its ETag.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.history import record_row_change
from models.common.types import UTCDateTime, utcnow
from models.strategies import retailers
from tradepost import jsonio
from tradepost.conditional import etag
from tradepost.errors import FieldError, InvalidRequest

RESOURCE = "strategy_config"
NONE_CONFIGURED = b"[]"

_VERSION = Column("version", Integer, nullable=False)


class StrategyConfig(SQLModel, table=True):
    __tablename__ = "strategy_configs"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "retailer_id"),)
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(sa_column=Column(String(36), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    retailer_id: str = Field(max_length=64)
    definitions_json: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)


def _snapshot(config: StrategyConfig) -> dict[str, Any]:
    data = config.definitions_json.encode()
    return {
        "user_id": config.user_id,
        "retailer_id": config.retailer_id,
        "definitions": {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    }


def _find(session: Session, tenant_id: str, user_id: str, retailer_id: str) -> Any:
    statement = select(StrategyConfig).where(
        StrategyConfig.tenant_id == tenant_id,
        StrategyConfig.user_id == user_id,
        StrategyConfig.retailer_id == retailer_id,
    )
    return session.exec(statement).first()


def set_strategies(
    session: Session,
    caller: Caller,
    *,
    user_id: str,
    retailer_id: str,
    definitions: dict[str, Any] | list[Any],
) -> StrategyConfig:
    """Store (or replace) the user's strategy definitions for the retailer (CLI)."""
    serialised = jsonio.dumps(definitions).decode()
    tenant_id = caller.tenant_id
    config: StrategyConfig | None = _find(session, tenant_id, user_id, retailer_id)
    now = utcnow()
    before = None
    if config is None:
        config = StrategyConfig(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            user_id=user_id,
            retailer_id=retailer_id,
            definitions_json=serialised,
            created_at=now,
            updated_at=now,
        )
    else:
        before = _snapshot(config)
        config.definitions_json = serialised
        config.updated_at = now
    session.add(config)
    session.flush()
    record_row_change(session, RESOURCE, config, caller, before, _snapshot(config))
    return config


def list_strategies(
    session: Session,
    caller: Caller,
    user: str,
    *,
    idretailer: str | None,
    retailer_id: str | None,
) -> StrategyConfig | None:
    """The configuration the caller may read for ``user`` and the retailer (None: none).

    The retailer is the query's ``idretailer`` (the documented name) or ``retailer_id``
    (the name the documented 400 uses): 400 with that text when neither is sent, 400 when
    both are sent and differ. 403 when the caller may not act for ``user`` or the user
    is not the retailer's.
    """
    if idretailer is None and retailer_id is None:
        raise InvalidRequest(
            "Missing 'retailer_id' parameter in query string.",
            fields=[FieldError("query", "retailer_id", "is required")],
        )
    if idretailer is not None and retailer_id is not None and idretailer != retailer_id:
        raise InvalidRequest(
            "idretailer and retailer_id name different retailers.",
            fields=[FieldError("query", "retailer_id", "differs from idretailer")],
        )
    retailer = idretailer or retailer_id
    assert retailer is not None
    retailers.authorize(session, caller, user, retailer)
    found: StrategyConfig | None = _find(session, caller.tenant_id, user, retailer)
    return found
