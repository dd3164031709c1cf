"""Where a trip starts and ends: airports, city codes, points; and the distance between.

A location is, in this order: an IATA airport code (``FRA``), an ICAO airport code
(``EDDF``), an IATA city code (``LON``: the city's main airport, ``city_airports.json``),
or a point ``"lat,long"`` in decimal degrees. Airport data is airportsdata's (MIT), held in
memory after the first use (``warm`` loads it at start-up). Distances are great-circle
distances on the mean Earth radius (haversine, R = 6371.0088 km).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

import airportsdata

from models.offsets import data

EARTH_RADIUS_KM = 6371.0088
_POINT = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Place:
    code: str  # the airport's IATA code (ICAO where it has none), or the point as sent
    lat: float
    lon: float
    country: str | None  # ISO 3166-1 alpha-2; None for a point


class UnknownPlace(ValueError):
    """Not an airport, city code or point this service knows."""


@dataclass(frozen=True, slots=True)
class _Airports:
    by_iata: dict[str, Place]
    by_icao: dict[str, Place]
    cities: dict[str, Place]
    countries: frozenset[str]


@cache
def _airports() -> _Airports:
    by_icao: dict[str, Place] = {}
    by_iata: dict[str, Place] = {}
    for icao, row in airportsdata.load("ICAO").items():
        place = Place(row["iata"] or icao, float(row["lat"]), float(row["lon"]), row["country"])
        by_icao[icao] = place
        if row["iata"]:
            by_iata[row["iata"]] = place
    mains = data.load("city_airports")["main_airport"]
    cities = {city: by_iata[airport] for city, airport in mains.items() if city not in by_iata}
    countries = frozenset(place.country for place in by_icao.values() if place.country)
    return _Airports(by_iata, by_icao, cities, countries)


def warm() -> None:
    """Load the airport data now (about 0.1 s) rather than on the first request."""
    _airports()


def known_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code of a country or territory with an airport."""
    return code in _airports().countries


def locate(text: str) -> Place:
    airports = _airports()
    code = text.strip().upper()
    place = airports.by_iata.get(code) or airports.by_icao.get(code) or airports.cities.get(code)
    if place is not None:
        return place
    point = _POINT.match(text)
    if point is not None:
        lat, lon = float(point.group(1)), float(point.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return Place(text.strip(), lat, lon, None)
    raise UnknownPlace(text)


def great_circle_km(a: Place, b: Place) -> float:
    """Haversine distance in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
