"""Carbon comparison (``POST /v2/carbon-comparison``): a quantity of CO2 in things a
person pictures, from US EPA's equivalencies (``data/epa_equivalencies.json``).

Each metric has units with a per-unit figure in tonnes of CO2; ``amount`` is the quantity
over that figure (``annual_usage`` of ``cars``: 0.5 is half a year of one car's driving).
Without ``comparison_unit`` the metric's unit whose amount falls in (or nearest to, on a
log scale) 1-1000 is chosen, the first listed on a tie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from models.offsets import data
from tradepost.errors import FieldError, InvalidRequest

GRAMS_PER_CARBON_UNIT = {"gram": 1, "kilogram": 1_000, "tonne": 1_000_000}


@dataclass(frozen=True, slots=True)
class Comparison:
    metric: str
    comparison_unit: str
    amount: float


def metrics() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = data.load("epa_equivalencies")["metrics"]
    return found


def _distance_from_range(amount: float) -> float:
    low, high = data.load("epa_equivalencies")["best_unit_range"]
    if amount <= 0:
        return math.inf
    if amount < low:
        return math.log10(low / amount)
    if amount > high:
        return math.log10(amount / high)
    return 0.0


def compare(quantity: int, unit: str, wanted: list[dict[str, Any]]) -> list[Comparison]:
    tonnes = float(Decimal(quantity) * GRAMS_PER_CARBON_UNIT[unit] / Decimal(1_000_000))
    answers: list[Comparison] = []
    for index, entry in enumerate(wanted):
        metric, unit_name = entry["metric"], entry.get("comparison_unit")
        units: dict[str, Any] = metrics()[metric]["units"]
        amounts = {name: tonnes / float(u["tonnes_co2"]) for name, u in units.items()}
        if unit_name is None:
            unit_name = min(amounts, key=lambda name: _distance_from_range(amounts[name]))
        elif unit_name not in amounts:
            raise InvalidRequest(
                f"items[{index}].comparison_unit {unit_name!r} is not a unit of {metric}.",
                fields=[
                    FieldError(
                        "body",
                        f"items[{index}].comparison_unit",
                        f"must be one of {', '.join(units)} for {metric}: {unit_name!r}",
                    )
                ],
            )
        answers.append(Comparison(metric, unit_name, float(f"{amounts[unit_name]:.6g}")))
    return answers
