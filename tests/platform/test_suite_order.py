"""The suite's own order under pytest-xdist: every test once, each worker's first share
starting with an even part of the fuzz runs, also for a selection of fuzz runs only."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import LONGEST, share_sizes, spread_over_workers

LIVE, TRADE_FUZZ, OTHER_FUZZ = LONGEST


def items(*names: str) -> list[Any]:
    return [
        SimpleNamespace(originalname=name, nodeid=f"{name}-{i}") for i, name in enumerate(names)
    ]


def shares(order: list[Any], workers: int) -> list[list[Any]]:
    """The contiguous shares pytest-xdist's worksteal hands out first."""
    starts = [0, *itertools.accumulate(share_sizes(len(order), workers))]
    return [order[start:end] for start, end in itertools.pairwise(starts)]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_each_worker_starts_with_its_part_of_the_fuzz_runs(workers: int) -> None:
    collected = items(LIVE, LIVE, TRADE_FUZZ, OTHER_FUZZ, *["test_plain"] * 40)
    order = spread_over_workers(collected, workers)
    assert sorted(i.nodeid for i in order) == sorted(i.nodeid for i in collected)
    weights = [
        sum(LONGEST.get(i.originalname, 0) for i in share) for share in shares(order, workers)
    ]
    assert max(weights) - min(weights) <= 2  # a live run weighs two in-process ones
    for share in shares(order, workers):
        fuzz = [i for i in share if i.originalname in LONGEST]
        assert share[: len(fuzz)] == fuzz  # the fuzz runs first, where no steal reaches


def test_a_selection_of_fuzz_runs_only_keeps_every_test() -> None:
    collected = items(TRADE_FUZZ, OTHER_FUZZ)
    assert sorted(i.nodeid for i in spread_over_workers(collected, 3)) == sorted(
        i.nodeid for i in collected
    )
