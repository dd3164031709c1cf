"""A calculation: every item through its type's methodology, in whole grams.

``calculate(items)`` answers each item's grams (rounded half up to whole grams; a flight's
are the sum of its legs') and the total, their sum. Items whose type or methodology this
service does not compute, or whose attributes it cannot use, are refused all together in
one ``InvalidRequest`` naming each item (``items[3].origin``) under its documented code:
``invalid_type``, ``invalid_methodology``, ``invalid_params`` or ``field_validation_error``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from models.offsets import data
from models.offsets.calculations import flights, ground, places, stays
from models.offsets.calculations.items import Computed, Item, ItemProblem
from models.offsets.calculations.units import whole_grams
from tradepost.errors import FieldError, InvalidRequest

Methodology = Callable[[Item], Computed]

METHODOLOGIES: dict[str, dict[str, Methodology]] = {
    "flight": {"ICAO": flights.icao, "DEFRA": flights.defra},
    "private_jet": {"SQUAKE": flights.private_jet},
    "hotel": {"DEFRA": stays.hotel_defra},
    "train": {"DEFRA": ground.train_defra},
    "car": {"BASIC": ground.car_basic, "DEFRA": ground.car_defra},
    "bus": {"DEFRA": ground.bus_defra},
}
DEFAULT_METHODOLOGY = {"train": "DEFRA"}  # SQUAKE: "the client's configured default"
MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class LegResult:
    origin: str
    destination: str
    km: float
    grams: int


@dataclass(frozen=True, slots=True)
class ItemResult:
    type: str
    methodology: str
    external_reference: str | None
    grams: int
    km: float
    legs: tuple[LegResult, ...]


@dataclass(frozen=True, slots=True)
class Calculation:
    items: tuple[ItemResult, ...]

    @property
    def grams(self) -> int:
        return sum(item.grams for item in self.items)


def warm_up() -> None:
    """Load the airports and every factor file now (the service does it in a thread at
    start-up), so that no request waits for them (about 0.3 s)."""
    places.warm()
    for name in ("desnz_2025", "icao_flights", "private_jets", "car_basic", "epa_equivalencies"):
        data.load(name)


def supported() -> str:
    return "; ".join(f"{kind}: {', '.join(names)}" for kind, names in METHODOLOGIES.items())


def _methodology(item: Item) -> tuple[str, str, Methodology]:
    kind = str(item.required("type")).strip().lower().replace("-", "_")
    methods = METHODOLOGIES.get(kind)
    if methods is None:
        raise ItemProblem(
            "type", f"{kind!r} is not calculated here; supported: {supported()}", "invalid_type"
        )
    name = item.text("methodology") or DEFAULT_METHODOLOGY.get(kind)
    if name is None:
        raise ItemProblem("methodology", f"is required; for {kind}: {', '.join(methods)}")
    canonical = next((m for m in methods if m.lower() == name.strip().lower()), None)
    if canonical is None:
        raise ItemProblem(
            "methodology",
            f"{name!r} is not calculated here for {kind}; supported: {', '.join(methods)}",
            "invalid_methodology",
        )
    return kind, canonical, methods[canonical]


def calculate_item(values: dict[str, Any]) -> ItemResult:
    item = Item(values)
    kind, name, method = _methodology(item)
    computed = method(item)
    legs = tuple(
        LegResult(g.origin, g.destination, g.km, whole_grams(g.grams)) for g in computed.legs
    )
    grams = sum(leg.grams for leg in legs) if legs else whole_grams(computed.grams)
    return ItemResult(kind, name, item.text("external_reference"), grams, computed.km, legs)


def calculate(items: Sequence[dict[str, Any]]) -> Calculation:
    results: list[ItemResult] = []
    problems: list[tuple[int, dict[str, Any], ItemProblem]] = []
    for index, values in enumerate(items):
        try:
            results.append(calculate_item(values))
        except ItemProblem as problem:
            problems.append((index, values, problem))
    if problems:
        raise _refusal(problems)
    return Calculation(tuple(results))


def _refusal(problems: list[tuple[int, dict[str, Any], ItemProblem]]) -> InvalidRequest:
    fields = [
        FieldError("body", f"items[{index}].{p.attribute}", p.message, code=p.code)
        for index, _values, p in problems[:MAX_REPORTED_PROBLEMS]
    ]
    first_index, first_values, first = problems[0]
    reference = first_values.get("external_reference")
    return InvalidRequest(
        f"items[{first_index}].{first.attribute} {first.message}",
        fields=fields,
        code=first.code,
        resource=("item", reference) if len(problems) == 1 and reference else None,
    )
