"""Optimistic writes of versioned rows: read without a lock, then write with one statement
guarded by the version read (issue 30: two round trips per write on PostgreSQL).

A write reads its row (no lock, no transaction on PostgreSQL), checks it (tenancy,
rights, ``If-Match``, the resource's own rules) and works out the new values; ``apply``
then writes them with ``UPDATE ... WHERE pk = :pk AND version = :v`` (which bumps the
version), together with the row's history entry and whatever else the change brings
(``Also``: document files, webhook outbox rows), all or nothing:

- PostgreSQL, in autocommit mode (``tradepost.db.Database.run_statements``): one
  statement, ``WITH updated AS (UPDATE ... RETURNING pk), also0 AS (...), ... INSERT INTO
  change_history SELECT ... FROM updated RETURNING version``. Every part selects from
  ``updated`` or tests that it has a row, so nothing is written when the guard failed; the
  statement commits itself (durably, as a transaction's COMMIT would).
- SQLite (one exclusive write transaction, ``BEGIN IMMEDIATE``): the guarded UPDATE, then
  the other statements once it has updated the row.

When the version moved since the read, ``apply`` returns False and ``retrying`` answers 412
to a request whose ``If-Match`` names a tag, or runs any other again from a fresh read
(never from a stale one: nothing is lost). The statements are built once per shape (the
columns set, the parts added) and cached.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, bindparam, exists, insert, select, update
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import CTE
from sqlmodel import Session

from models.common.history import ENTRIES
from tradepost.conditional import Precondition, stale

T = TypeVar("T")

ATTEMPTS = 20
"""Fresh reads a write without a specific ``If-Match`` tag makes before giving up (412)."""

Gate = CTE | None
"""What a part of a write is put behind: the guarded UPDATE's ``updated`` CTE on
PostgreSQL; None on SQLite, where a part runs only after the UPDATE updated the row."""


def retrying(attempt: Callable[[], T | None], precondition: Precondition) -> T:
    """``attempt()`` (read, check, ``apply``) until it writes: None means the version moved
    between its read and its write, which is a 412 when ``If-Match`` names a tag."""
    for _attempt in range(ATTEMPTS):
        written = attempt()
        if written is not None:
            return written
        if precondition.names_a_version:
            raise stale()
    raise stale()  # pragma: no cover (the row kept changing under every attempt)


def gated(gate: Gate) -> tuple[ColumnElement[bool], ...]:
    """The condition that puts a part behind the guarded UPDATE (for its WHERE)."""
    return () if gate is None else (exists(gate.select()),)


def parameters(table: Table, names: Sequence[str], prefix: str) -> list[Any]:
    """Bind parameters ``prefix + name`` typed as ``table``'s columns (asyncpg needs the
    types of parameters in a select list)."""
    return [bindparam(prefix + name, type_=table.c[name].type) for name in names]


def insert_values(table: Table, names: Sequence[str], gate: Gate, prefix: str) -> UpdateBase:
    """``INSERT INTO table (names) SELECT :prefix<name>, ...`` behind ``gate``."""
    row = select(*parameters(table, names, prefix)).where(*gated(gate))
    return insert(table).from_select(list(names), row)


def numbered(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of a statement writing several rows: row i's ``name`` as ``i_name``."""
    return {
        f"{index}_{name}": value for index, row in enumerate(rows) for name, value in row.items()
    }


@dataclass(frozen=True, slots=True)
class Also:
    """One more statement of a write, run only if the guarded UPDATE updated the row.

    ``build(gate, prefix)`` makes it (behind ``gate``, see ``gated``), naming its bind
    parameters ``prefix + name``; ``params`` are its values by unprefixed name. ``build``
    is part of the cache key of the statements: a module-level function, or one made once
    (never a new closure per request).
    """

    build: Callable[[Gate, str], UpdateBase]
    params: Mapping[str, Any] = field(default_factory=dict)

    def run(self, session: Session, prefix: str = "also_") -> None:
        """Run it on its own, in the session's transaction (a create, a cancel)."""
        session.connection().execute(_alone(self.build, prefix), _named(prefix, self.params))


def apply(
    session: Session,
    table: Table,
    *,
    pk: int,
    version: int,
    values: Mapping[str, Any],
    entry: Mapping[str, Any],
    also: Sequence[Also] = (),
) -> bool:
    """Write ``values`` (the columns to set, the new ``version`` among them) to the row
    ``pk`` if it still has ``version``, with its history ``entry``
    (``models.common.history.entry_values``) and the ``also`` statements: one statement on
    PostgreSQL, one after the other on SQLite. False, and nothing written, when the
    version moved."""
    connection = session.connection()
    guard = {"guard_pk": pk, "guard_version": version}
    columns = tuple(values)
    if connection.dialect.name == "postgresql":
        statement = _one_statement(table, columns, tuple(part.build for part in also))
        params = {**_named("set_", values), **_named("entry_", entry), **guard}
        for index, part in enumerate(also):
            params.update(_named(f"also{index}_", part.params))
        # RETURNING, not the row count, says whether it happened: drivers disagree on the
        # row count of an INSERT whose WITH holds an UPDATE ... RETURNING.
        return connection.execute(statement, params).first() is not None
    updated = connection.execute(
        _guarded_update(table, columns), {**_named("set_", values), **guard}
    )
    if updated.rowcount != 1:
        return False
    for index, part in enumerate(also):
        part.run(session, f"also{index}_")
    connection.execute(insert(ENTRIES), dict(entry))
    return True


def _named(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{name}": value for name, value in values.items()}


@functools.cache
def _guarded_update(table: Table, columns: tuple[str, ...]) -> Any:
    return (
        update(table)
        .where(table.c.pk == bindparam("guard_pk"), table.c.version == bindparam("guard_version"))
        .values(dict(zip(columns, parameters(table, columns, "set_"), strict=True)))
    )


@functools.cache
def _alone(build: Callable[[Gate, str], UpdateBase], prefix: str) -> UpdateBase:
    return build(None, prefix)


@functools.cache
def _one_statement(
    table: Table, columns: tuple[str, ...], parts: tuple[Callable[[Gate, str], UpdateBase], ...]
) -> Any:
    """``WITH updated AS (UPDATE ... RETURNING pk), also<i> AS (<part i>) INSERT INTO
    change_history SELECT ... FROM updated RETURNING version``."""
    changed = _guarded_update(table, columns).returning(table.c.pk).cte("updated")
    names = [column.name for column in ENTRIES.columns if column.name != "pk"]
    entry = select(*parameters(ENTRIES, names, "entry_")).select_from(changed)
    statement = insert(ENTRIES).from_select(names, entry).returning(ENTRIES.c.version)
    also = [
        build(changed, f"also{index}_").cte(f"also{index}") for index, build in enumerate(parts)
    ]
    return statement.add_cte(*also) if also else statement
