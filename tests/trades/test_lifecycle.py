"""The trade lifecycle (models/trades/lifecycle.py) as a table: every status against every
move, without a database. tests/trades/test_reference.py drives the same rules over HTTP."""

from __future__ import annotations

import pytest

from models.trades import lifecycle
from models.trades.lifecycle import Status
from tradepost.errors import Conflict

OWNER_MOVES = {
    (Status.DRAFT, Status.NEGOTIABLE),
    (Status.DRAFT, Status.ACTIVE),
    (Status.NEGOTIABLE, Status.DRAFT),
    (Status.NEGOTIABLE, Status.ACTIVE),
    (Status.ACCEPTED, Status.ACTIVE),
    (Status.ACTIVE, Status.CLOSED),
}


@pytest.mark.parametrize("target", list(Status))
@pytest.mark.parametrize("status", list(Status))
def test_the_owner_moves_only_along_the_documented_arrows(status: Status, target: Status) -> None:
    if (status, target) in OWNER_MOVES:
        lifecycle.require_move(status.value, target.value)
    else:
        with pytest.raises(Conflict):
            lifecycle.require_move(status.value, target.value)


@pytest.mark.parametrize("status", list(Status))
def test_closed_and_terminated_are_final(status: Status) -> None:
    final = status in {Status.CLOSED, Status.TERMINATED}
    if final:
        with pytest.raises(Conflict) as refused:
            lifecycle.require_editable(status.value)
        assert refused.value.error_code == "trade_final"
    else:
        lifecycle.require_editable(status.value)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (Status.DRAFT, True),
        (Status.NEGOTIABLE, True),
        (Status.ACCEPTED, False),  # already accepted: nothing changes
        (Status.ACTIVE, Conflict),
        (Status.CLOSED, Conflict),
        (Status.TERMINATED, Conflict),
    ],
)
def test_the_buyers_link_accepts_a_negotiation_once(
    status: Status, outcome: bool | type[Conflict]
) -> None:
    if outcome is Conflict:
        with pytest.raises(Conflict):
            lifecycle.accepts(status.value)
    else:
        assert lifecycle.accepts(status.value) is outcome


def test_a_new_trade_is_a_draft_and_accepted_is_spelled_as_the_reference_answers() -> None:
    assert lifecycle.INITIAL is Status.DRAFT
    assert Status.ACCEPTED.value == "Accepted"
