"""A trade's lifecycle: its statuses, the moves between them, and what each status allows.

Moves (who makes each, and how)::

    from          to                       by
    DRAFT         NEGOTIABLE, ACTIVE       the owner, PATCH .../status
    NEGOTIABLE    DRAFT, ACTIVE            the owner, PATCH .../status
    DRAFT         Accepted                 the buyer, the public accept link
    NEGOTIABLE    Accepted                 the buyer, the public accept link
    Accepted      ACTIVE                   the owner, PATCH .../status
    ACTIVE        CLOSED                   the owner, PATCH .../status
    not final     TERMINATED               the owner, PATCH .../terminate

- A new trade is ``DRAFT``. Its owner moves it with ``PATCH .../status`` along the arrows
  (``DRAFT`` <-> ``NEGOTIABLE``, either of them -> ``ACTIVE``, ``Accepted`` -> ``ACTIVE``,
  ``ACTIVE`` -> ``CLOSED``).
- The buyer named on the trade accepts it through the public link while it is ``DRAFT`` or
  ``NEGOTIABLE`` (-> ``Accepted``, spelled as the accept page answers it); accepting an
  ``Accepted`` trade again changes nothing.
- ``PATCH .../terminate`` ends a trade in any status but ``CLOSED`` and ``TERMINATED``.
- ``CLOSED`` and ``TERMINATED`` are final: the trade is read-only (409 for every change).
- A deleted trade no longer exists for anyone (404), whatever its status.
"""

from __future__ import annotations

from enum import StrEnum

from tradepost.errors import Conflict


class Status(StrEnum):
    DRAFT = "DRAFT"
    NEGOTIABLE = "NEGOTIABLE"
    ACCEPTED = "Accepted"
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"
    TERMINATED = "TERMINATED"


INITIAL = Status.DRAFT
FINAL = frozenset({Status.CLOSED, Status.TERMINATED})
# The moves an owner makes with PATCH .../status (terminate and accept have their own).
MOVES: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.NEGOTIABLE, Status.ACTIVE}),
    Status.NEGOTIABLE: frozenset({Status.DRAFT, Status.ACTIVE}),
    Status.ACCEPTED: frozenset({Status.ACTIVE}),
    Status.ACTIVE: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
    Status.TERMINATED: frozenset(),
}
ACCEPTABLE = frozenset({Status.DRAFT, Status.NEGOTIABLE})
NEGOTIATING = (Status.DRAFT, Status.NEGOTIABLE)


def require_editable(status: str) -> None:
    """409 unless the trade's details may still change."""
    if Status(status) in FINAL:
        raise Conflict(f"The trade is {status} and can no longer be changed.", code="trade_final")


def require_move(status: str, target: str) -> None:
    """409 unless an owner may move a trade from ``status`` to ``target``."""
    require_editable(status)
    if Status(target) not in MOVES[Status(status)]:
        raise Conflict(
            f"A {status} trade cannot become {target}.", code="invalid_status_transition"
        )


def require_terminable(status: str) -> None:
    require_editable(status)


def accepts(status: str) -> bool:
    """Whether the buyer's accept link changes the trade (False: it is already Accepted).

    409 when the trade is in a status the link cannot accept from.
    """
    if Status(status) is Status.ACCEPTED:
        return False
    require_editable(status)
    if Status(status) not in ACCEPTABLE:
        raise Conflict(f"A {status} trade cannot be accepted.", code="invalid_status_transition")
    return True
