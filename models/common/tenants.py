"""Tenants are not rows of their own: a tenant is every record carrying its id."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlmodel import Session, SQLModel


def tenant_counts(session: Session) -> dict[str, dict[str, int]]:
    """``{tenant_id: {table: rows}}`` over every table that has a ``tenant_id`` column."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for table in SQLModel.metadata.sorted_tables:
        if "tenant_id" not in table.c:
            continue
        column = table.c.tenant_id
        for tenant_id, rows in session.execute(select(column, func.count()).group_by(column)).all():
            counts[tenant_id][table.name] = rows
    return dict(counts)
