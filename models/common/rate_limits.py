"""Fixed-window request counters, in the database so every server process shares them.

One row per (bucket, window): a bucket is whatever is limited (``token:<id>``, a digest of
a client address or of an email and an address), a window a minute since the epoch.
Counting is one ``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + n RETURNING hits``
(SQLite 3.35+ and PostgreSQL), atomic under concurrency on both. The first hit of a new
window deletes the bucket's older windows, and ``purge_before`` (run by each process once
a window) deletes every older window of every bucket, so the table holds only the buckets
active in the last minute or two, however many emails or addresses were tried.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel


class RateLimitWindow(SQLModel, table=True):
    __tablename__ = "rate_limits"

    bucket: str = Field(sa_column=Column(String(80), primary_key=True))
    window_start: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hits: int = Field(sa_column=Column(Integer, nullable=False))


def hit(session: Session, *, bucket: str, window_start: int, count: int = 1) -> int:
    """Count ``count`` requests in ``bucket`` for the window; the window's count so far."""
    table = RateLimitWindow.__table__  # type: ignore[attr-defined]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(bucket=bucket, window_start=window_start, hits=count)
        .on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.window_start],
            set_={"hits": table.c.hits + count},
        )
        .returning(table.c.hits)
    )
    hits: int = session.execute(statement).scalar_one()
    if hits == count:
        session.execute(
            delete(table).where(table.c.bucket == bucket, table.c.window_start < window_start)
        )
    return hits


def hits_in(session: Session, *, bucket: str, window_start: int) -> int:
    """The window's count for the bucket, without counting."""
    table = RateLimitWindow.__table__  # type: ignore[attr-defined]
    found = session.execute(
        select(table.c.hits).where(table.c.bucket == bucket, table.c.window_start == window_start)
    ).scalar_one_or_none()
    return int(found or 0)


def purge_before(session: Session, *, window_start: int) -> int:
    """Delete every bucket's windows before ``window_start``; how many rows went."""
    table = RateLimitWindow.__table__  # type: ignore[attr-defined]
    deleted: int = session.execute(
        delete(table).where(table.c.window_start < window_start)
    ).rowcount  # type: ignore[attr-defined]
    return deleted
