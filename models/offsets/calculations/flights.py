"""Flights (``ICAO``, ``DEFRA``) and private jets (``SQUAKE``).

A flight is ``origin`` + ``destination`` or a ``routing`` (``BER-FRA-JFK``, up to 10
legs), never both (``invalid_params``). Each leg is computed on its own and the item is
their sum, per traveller times ``number_of_travelers``.

- ICAO (``icao_flights.json``): corrected distance = great-circle distance + 50/100/125 km;
  economy kg per passenger from the curve; times the cabin factor of the booking class
  for a narrow- or wide-body aircraft (``aircraft_type``'s, else wide-body from
  4,000 km). ``average`` counts as economy.
- DEFRA (``desnz_2025.json``): great-circle distance x the DESNZ factor of the leg's band
  (domestic UK; short- or long-haul to/from the UK, split at 3,700 km; international
  non-UK) and class (the band's average where it has none), with radiative forcing unless
  ``radiative_forcing_index`` is false.
- Private jet, SQUAKE (``private_jets.json``): per flight, whatever the travellers.
"""

from __future__ import annotations

import itertools
from typing import Any

from models.offsets import data
from models.offsets.calculations.items import (
    Computed,
    Item,
    ItemProblem,
    Leg,
    distinct,
    interpolate,
)
from models.offsets.calculations.places import Place

MAX_LEGS = 10


def _route(item: Item) -> list[tuple[Place, Place, float]]:
    routing = item.text("routing")
    if routing is None:
        origin, destination, km = item.trip()
        return [(origin, destination, km)]
    if item.get("origin") is not None or item.get("destination") is not None:
        raise ItemProblem(
            "routing", "cannot be combined with origin or destination", code="invalid_params"
        )
    stops = [item.place_of("routing", code) for code in routing.split("-")]
    if not 2 <= len(stops) <= MAX_LEGS + 1:
        raise ItemProblem("routing", f"must name 2 to {MAX_LEGS + 1} airports")
    return [(a, b, distinct(a, b, "routing")) for a, b in itertools.pairwise(stops)]


def _legs(item: Item, kg_per_traveller: Any) -> Computed:
    travellers = item.travellers()
    legs = tuple(
        Leg(a.code, b.code, km, kg_per_traveller(a, b, km) * 1000 * travellers)
        for a, b, km in _route(item)
    )
    return Computed(sum(leg.grams for leg in legs), sum(leg.km for leg in legs), legs)


def _booking_class(item: Item, default: str) -> str:
    return item.text("booking_class", default) or default


def icao(item: Item) -> Computed:
    table = data.load("icao_flights")
    cabin = _booking_class(item, "economy")
    cabin = "economy" if cabin == "average" else cabin
    aircraft = item.text("aircraft_type")

    def kg(_a: Place, _b: Place, km: float) -> float:
        corrected = km + next(
            c["add_km"]
            for c in table["distance_corrections_km"]
            if c["below_km"] is None or km < c["below_km"]
        )
        if aircraft is not None:
            wide = aircraft.upper() in table["wide_body_aircraft"]
        else:
            wide = km >= table["wide_body_from_km"]
        factors = table["cabin_factors"]["wide_body" if wide else "narrow_body"]
        economy: float = interpolate(table["economy_kg_per_passenger"], corrected)
        return economy * float(factors[cabin])

    return _legs(item, kg)


def defra_band(origin: Place, destination: Place, km: float) -> str:
    flight = data.load("desnz_2025")["flight"]
    uk = (origin.country == "GB", destination.country == "GB")
    if all(uk):
        return "domestic_uk"
    if any(uk):
        return "short_haul_uk" if km < flight["short_haul_below_km"] else "long_haul_uk"
    return "international_non_uk"


def defra_factor(band: str, cabin: str, radiative_forcing: bool) -> float:
    """kg CO2e per passenger-km; without RF, the with-RF factor times the band's published
    ratio (DESNZ publishes one class without RF per band)."""
    factors = data.load("desnz_2025")["flight"]["bands"][band]
    with_rf: dict[str, float] = factors["with_rf"]
    factor = with_rf.get(cabin, with_rf["average"])
    if radiative_forcing:
        return factor
    published, value = next(iter(factors["without_rf"].items()))
    return factor * float(value) / with_rf[published]


def defra(item: Item) -> Computed:
    cabin = _booking_class(item, "average")
    radiative_forcing = item.get("radiative_forcing_index") is not False

    def kg(a: Place, b: Place, km: float) -> float:
        return km * defra_factor(defra_band(a, b, km), cabin, radiative_forcing)

    return _legs(item, kg)


def private_jet(item: Item) -> Computed:
    jets = data.load("private_jets")
    kind = item.text("identifier_kind", "ICAO") or "ICAO"
    if kind.upper() != "ICAO":
        raise ItemProblem("identifier_kind", "must be ICAO (an ICAO aircraft type designator)")
    identifier = (item.text("identifier") or jets["default_identifier"]).upper()
    aircraft = jets["aircraft_icao"].get(identifier)
    if aircraft is None:
        known = ", ".join(sorted(jets["aircraft_icao"]))
        raise ItemProblem("identifier", f"is not a known aircraft type ({known}): {identifier!r}")
    origin, destination, km = item.trip()
    hours = km * jets["route_factor"] / aircraft["cruise_kmh"] + jets["ground_and_climb_hours"]
    grams = hours * aircraft["fuel_kg_per_hour"] * jets["kg_co2_per_kg_fuel"] * 1000
    return Computed(grams, km, (Leg(origin.code, destination.code, km, grams),))
