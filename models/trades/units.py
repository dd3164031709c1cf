"""``productUnitType``: every spelling the trade API's pages use, one stored value.

The pages spell units two ways: the create, update and read examples in words
(``Barrels``, ``Boxes``) and the negotiations filter in capitals (``BARRELS``,
``METRIC_TONNES``, ``CUBIC_FEET``). Both are accepted; a trade stores and answers the
word form (``MetricTonnes``), the one spelling the reference shows in a response (the
read page's ``"Boxes"``), which also keeps this service's earlier answers unchanged.
"""

from __future__ import annotations

import re

UNITS = (
    "Barrels",
    "Boxes",
    "Bushels",
    "CubicFeet",
    "CubicMetres",
    "Gallons",
    "Grams",
    "Kilograms",
    "Litres",
    "MetricTonnes",
    "Pounds",
    "Units",
)


def _capitals(unit: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", unit).upper()


CANONICAL = {**{unit: unit for unit in UNITS}, **{_capitals(unit): unit for unit in UNITS}}
"""Every accepted spelling -> the stored one (``METRIC_TONNES`` -> ``MetricTonnes``)."""


def canonical(spelling: str) -> str:
    return CANONICAL[spelling]
