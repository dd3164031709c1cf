"""Carbon and distance units, and how reported quantities are rounded.

Every emission is computed in grams and rounded to whole grams per item; a total is the
sum of its items' grams. Reported quantities are those grams in the caller's unit, exact
(3 decimals in kilograms, 6 in tonnes: the official Ruby client's ``CarbonUnit#precision``).
Distances are computed in kilometres; ``distance_unit`` changes only what is reported
(3 decimals).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

GRAMS_PER_CARBON_UNIT = {"gram": 1, "kilogram": 1_000, "tonne": 1_000_000}
KM_PER_DISTANCE_UNIT = {
    "kilometer": Decimal(1),
    "meter": Decimal("0.001"),
    "mile": Decimal("1.609344"),
    "nautical_mile": Decimal("1.852"),
    "feet": Decimal("0.0003048"),
}
_DISTANCE_PLACES = Decimal("0.001")


def whole_grams(grams: float) -> int:
    """``grams`` rounded half up to a whole gram (the unit every total is summed in)."""
    return int(Decimal(repr(grams)).quantize(Decimal(1), ROUND_HALF_UP))


def carbon_in(grams: int, unit: str) -> int | Decimal:
    """Whole ``grams`` in ``unit``: an integer in grams, an exact decimal otherwise."""
    per_unit = GRAMS_PER_CARBON_UNIT[unit]
    if per_unit == 1:
        return grams
    return Decimal(grams) / Decimal(per_unit)


def distance_in(km: float, unit: str) -> Decimal:
    """A distance in kilometres in ``unit``, to 3 decimals."""
    value = Decimal(repr(km)) / KM_PER_DISTANCE_UNIT[unit]
    return value.quantize(_DISTANCE_PLACES, ROUND_HALF_UP)
