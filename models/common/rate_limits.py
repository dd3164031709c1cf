"""Fixed-window request counters, in the database so every server process shares them.

One row per (bucket, window): a bucket is whatever is limited (``token:<id>``), a window a
minute since the epoch. Counting is one ``INSERT ... ON CONFLICT DO UPDATE SET hits = hits
+ 1 RETURNING hits`` (SQLite 3.35+ and PostgreSQL), atomic under concurrency on both. The
first hit of a new window deletes the bucket's older windows, so the table holds at most
one row per active bucket.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel


class RateLimitWindow(SQLModel, table=True):
    __tablename__ = "rate_limits"

    bucket: str = Field(sa_column=Column(String(80), primary_key=True))
    window_start: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hits: int = Field(sa_column=Column(Integer, nullable=False))


def hit(session: Session, *, bucket: str, window_start: int) -> int:
    """Count one request in ``bucket`` for the window; the window's count so far."""
    table = RateLimitWindow.__table__  # type: ignore[attr-defined]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(bucket=bucket, window_start=window_start, hits=1)
        .on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.window_start],
            set_={"hits": table.c.hits + 1},
        )
        .returning(table.c.hits)
    )
    hits: int = session.execute(statement).scalar_one()
    if hits == 1:
        session.execute(
            delete(table).where(table.c.bucket == bucket, table.c.window_start < window_start)
        )
    return hits
