"""Trains (``DEFRA``), buses (``DEFRA``) and cars (``BASIC``, ``DEFRA``).

- Train, DEFRA: rail distance = great-circle distance x 1.2; DESNZ national rail, or
  international rail when origin and destination are in different countries; per traveller.
- Bus, DEFRA: road distance = great-circle x 1.2; DESNZ local bus under 50 km, coach from
  there; per traveller.
- Car, BASIC (as SQUAKE documents it): the distance is ``distance_in_km``, else
  origin/destination (great-circle x 1.2), else ``number_of_days`` x 60 km; the emission is
  ``co2_grams_per_km``, else ``consumption_per_100_km`` litres of ``fuel_type`` (petrol,
  diesel; EPA's grams per gallon). Per car, whatever the travellers.
- Car, DEFRA: the same distance, times DESNZ's average car of ``fuel_type``.
"""

from __future__ import annotations

from typing import Any

from models.offsets import data
from models.offsets.calculations.items import Computed, Item, ItemProblem


def _road_or_rail_km(item: Item, route_factor: float) -> float:
    return item.trip()[2] * route_factor


def train_defra(item: Item) -> Computed:
    rail = data.load("desnz_2025")["rail"]
    origin, destination, km = item.trip()
    km *= rail["route_factor"]
    international = None not in (origin.country, destination.country) and (
        origin.country != destination.country
    )
    factor = rail["international" if international else "national"]
    return Computed(km * factor * 1000 * item.travellers(), km)


def bus_defra(item: Item) -> Computed:
    bus = data.load("desnz_2025")["bus"]
    km = _road_or_rail_km(item, bus["route_factor"])
    factor = bus["coach" if km >= bus["coach_from_km"] else "local_bus"]
    return Computed(km * factor * 1000 * item.travellers(), km)


def _car_km(item: Item, basic: dict[str, Any]) -> float:
    if item.get("distance_in_km") is not None:
        return float(item.get("distance_in_km"))
    if item.get("origin") is not None or item.get("destination") is not None:
        return _road_or_rail_km(item, basic["route_factor"])
    if item.get("number_of_days") is not None:
        return float(item.get("number_of_days")) * float(basic["km_per_day"])
    raise ItemProblem("distance_in_km", "is required, or origin and destination, or number_of_days")


def _fuel(item: Item, known: dict[str, Any], aliases: dict[str, str]) -> str:
    fuel = item.required("fuel_type").lower()
    fuel = aliases.get(fuel, fuel)
    if fuel not in known:
        raise ItemProblem("fuel_type", f"must be one of {', '.join(sorted(known))}: {fuel!r}")
    return str(fuel)


def car_basic(item: Item) -> Computed:
    basic = data.load("car_basic")
    km = _car_km(item, basic)
    if item.get("co2_grams_per_km") is not None:
        grams_per_km = float(item.get("co2_grams_per_km"))
    elif item.get("consumption_per_100_km") is not None:
        per_gallon = basic["grams_co2_per_us_gallon"]
        fuel = _fuel(item, per_gallon, basic["aliases"])
        grams_per_litre = per_gallon[fuel] / basic["litres_per_us_gallon"]
        grams_per_km = float(item.get("consumption_per_100_km")) / 100 * grams_per_litre
    else:
        raise ItemProblem(
            "co2_grams_per_km", "is required, or consumption_per_100_km with fuel_type"
        )
    return Computed(km * grams_per_km, km)


def car_defra(item: Item) -> Computed:
    car = data.load("desnz_2025")["car"]
    km = _car_km(item, data.load("car_basic"))
    fuel = _fuel(item, car["kg_per_km"], car["aliases"])
    return Computed(km * car["kg_per_km"][fuel] * 1000, km)
