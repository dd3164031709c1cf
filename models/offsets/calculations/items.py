"""One item of a calculation as the methodologies read it, and what they answer.

``Item`` wraps the validated JSON of one item (the spec has checked types and bounds) and
reads the attributes the methodologies need; what only the methodology can judge (an
unknown airport, a route going nowhere, a missing input) raises ``ItemProblem`` naming the
attribute. ``Computed`` is a methodology's answer: grams, kilometres and, for flights, legs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from models.offsets.calculations import places
from models.offsets.calculations.places import Place

FIELD_VALIDATION = "field_validation_error"


class ItemProblem(Exception):
    """What is wrong with one attribute of an item, under the documented error ``code``."""

    def __init__(self, attribute: str, message: str, code: str = FIELD_VALIDATION) -> None:
        super().__init__(f"{attribute} {message}")
        self.attribute = attribute
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Leg:
    origin: str
    destination: str
    km: float
    grams: float


@dataclass(frozen=True, slots=True)
class Computed:
    grams: float
    km: float
    legs: tuple[Leg, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Item:
    values: dict[str, Any]

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return default if value is None else str(value)

    def required(self, name: str, why: str = "is required") -> Any:
        value = self.values.get(name)
        if value is None:
            raise ItemProblem(name, why)
        return value

    def travellers(self) -> int:
        """``number_of_travelers`` (the API's spelling) or ``number_of_travellers`` (the
        Ruby client's README); default 1."""
        us, uk = self.values.get("number_of_travelers"), self.values.get("number_of_travellers")
        if us is not None and uk is not None and us != uk:
            raise ItemProblem("number_of_travelers", "and number_of_travellers disagree")
        return int(us if us is not None else uk if uk is not None else 1)

    def place(self, name: str) -> Place:
        return self.place_of(name, self.required(name))

    @staticmethod
    def place_of(name: str, text: str) -> Place:
        try:
            return places.locate(text)
        except places.UnknownPlace:
            raise ItemProblem(
                name, f"is not a known airport, city code or 'lat,long' point: {text!r}"
            ) from None

    def trip(self) -> tuple[Place, Place, float]:
        """``origin`` and ``destination``, and the great-circle kilometres between them."""
        origin, destination = self.place("origin"), self.place("destination")
        return origin, destination, distinct(origin, destination, "destination")


def distinct(origin: Place, destination: Place, attribute: str) -> float:
    km = places.great_circle_km(origin, destination)
    if km < 1.0:
        raise ItemProblem(attribute, f"is the same place as the origin ({destination.code})")
    return km


def interpolate(points: list[list[float]], x: float) -> float:
    """The piecewise-linear function through ``points`` (x ascending) at ``x``; beyond the
    last point, the last segment continued."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return y1 + (y1 - y0) * (x - x1) / (x1 - x0)
