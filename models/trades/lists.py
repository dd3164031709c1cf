"""Lists of trades: the filters of the reference's Retrieve Trades and negotiations pages.

Every list is the tenant's trades that are not deleted; filters combine with AND, the
values of one filter with OR. ``models/trades/trades.py`` owns the table and the tenancy rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlmodel import Session

from models.common.caller import Caller
from models.trades import lifecycle
from models.trades.requests import linked_trades
from models.trades.trades import TABLE, TradeRow, get_trade
from models.trades.units import canonical


@dataclass(frozen=True, slots=True)
class TradeQuery:
    """What a list asks for; every filter is optional, values within one filter are ORed.

    ``request_ids``/``request_statuses``: only trades linked to a trade request with one of
    these ids and one of these statuses (``models.trades.requests``).
    ``unknown_attribute_filtered``: the request filters on what this service does not
    record about a trade (states, cities, trades with Sabi), so no trade matches.
    ``negotiations``: only trades under negotiation (``DRAFT``, ``NEGOTIABLE``).
    """

    limit: int = 20
    page: int = 1
    order: str = "DESC"
    after: str | None = None
    search: str | None = None
    date_range: tuple[date, date] | None = None
    statuses: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    trade_ids: tuple[str, ...] = ()
    business_ids: tuple[str, ...] = ()
    seller_ids: tuple[str, ...] = ()
    buyer_ids: tuple[str, ...] = ()
    unit_types: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()
    request_statuses: tuple[str, ...] = ()
    unknown_attribute_filtered: bool = False
    negotiations: bool = False


@dataclass(frozen=True, slots=True)
class TradePage:
    rows: Sequence[TradeRow]
    next_cursor: str | None
    total: int


_SEARCHED = (
    TABLE.c.product_id,
    TABLE.c.description,
    TABLE.c.business_id,
    TABLE.c.buyer_id,
)


def _conditions(tenant_id: str, query: TradeQuery) -> list[Any]:
    table = TABLE.c
    found: list[Any] = []
    if query.request_ids or query.request_statuses:
        found.append(linked_trades(tenant_id, query.request_ids, query.request_statuses))
    if query.negotiations:
        found.append(table.status.in_([s.value for s in lifecycle.NEGOTIATING]))
    if query.search:
        escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        found.append(or_(*(column.ilike(pattern, escape="\\") for column in _SEARCHED)))
    if query.date_range is not None:
        start, end = query.date_range
        found.append(and_(table.trade_date >= start, table.trade_date <= end))
    for column, values in (
        (table.status, query.statuses),
        (table.product_id, query.product_ids),
        (table.id, query.trade_ids),
        (table.business_id, query.business_ids),
        (table.seller_id, query.seller_ids),
        (table.buyer_id, query.buyer_ids),
        (table.product_unit_type, tuple(canonical(u) for u in query.unit_types)),
    ):
        if values:
            found.append(column.in_(values))
    if query.unknown_attribute_filtered:
        found.append(false())
    return found


def list_trades(session: Session, caller: Caller, query: TradeQuery) -> TradePage:
    """The tenant's trades matching ``query``: newest first (``DESC``) or oldest first.

    ``after`` (a cursor: the last tradeId of the previous page) and ``page`` combine: the
    page counts from the cursor.
    """
    table = TABLE.c
    where = [
        table.tenant_id == caller.tenant_id,
        table.deleted_at.is_(None),
        *_conditions(caller.tenant_id, query),
    ]
    total = session.connection().execute(select(func.count()).where(*where)).scalar_one()
    descending = query.order == "DESC"
    if query.after is not None:
        anchor = get_trade(session, caller, query.after)
        where.append(table.pk < anchor["pk"] if descending else table.pk > anchor["pk"])
    statement = (
        select(TABLE)
        .where(*where)
        .order_by(table.pk.desc() if descending else table.pk.asc())
        .offset((query.page - 1) * query.limit)
        .limit(query.limit + 1)
    )
    rows = [dict(row) for row in session.connection().execute(statement).mappings()]
    next_cursor = rows[query.limit - 1]["id"] if len(rows) > query.limit else None
    return TradePage(rows[: query.limit], next_cursor, total)
