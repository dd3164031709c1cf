"""Hotels (``DEFRA``): DESNZ's kg CO2e per occupied room-night of the hotel's country.

``country`` (ISO 3166-1 alpha-2) picks the factor, ``city`` a city's own where DESNZ has
one (London); a country DESNZ lists but ``desnz_2025.json`` does not yet carry uses the
median of DESNZ's countries. One room per traveller: nights x travellers x factor.
``stars`` is accepted and does not change the result (DESNZ has no star ratings).
"""

from __future__ import annotations

from models.offsets import data
from models.offsets.calculations import places
from models.offsets.calculations.items import Computed, Item, ItemProblem


def hotel_defra(item: Item) -> Computed:
    hotel = data.load("desnz_2025")["hotel"]
    country = str(item.required("country")).upper()
    if not places.known_country(country):
        raise ItemProblem("country", f"is not an ISO 3166-1 alpha-2 country code: {country!r}")
    nights = int(item.required("number_of_nights"))
    city = (item.text("city") or "").strip().lower()
    factor = hotel["cities"].get(country, {}).get(city) or hotel["kg_per_room_night"].get(
        country, hotel["other_countries"]
    )
    return Computed(nights * item.travellers() * float(factor) * 1000, 0.0)
