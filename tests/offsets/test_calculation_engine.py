"""The calculation engine without the web: worked examples from the published factors,
the properties every methodology keeps, distances against known ones, and the errors."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from importlib import resources
from typing import Any

import airportsdata
import pytest

from models.offsets import data
from models.offsets.calculations import places
from models.offsets.calculations.engine import METHODOLOGIES, calculate, calculate_item
from models.offsets.calculations.items import interpolate
from models.offsets.calculations.units import carbon_in, distance_in
from tradepost.errors import InvalidRequest


def grams(**item: Any) -> int:
    return calculate_item(item).grams


def flight(methodology: str, origin: str, destination: str, **more: Any) -> dict[str, Any]:
    return {"type": "flight", "methodology": methodology, "origin": origin,
            "destination": destination, **more}  # fmt: skip


# --- data files ------------------------------------------------------------------------

DATA_FILES = sorted(
    f.name.removesuffix(".json")
    for f in resources.files("models.offsets.data").iterdir()
    if f.name.endswith(".json")
)


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_data_file_names_its_source_edition_and_licence(name: str) -> None:
    loaded = data.load(name)
    for key in ("source", "edition", "licence", "version"):
        assert loaded.get(key), f"{name}.json has no {key}"


def test_the_icao_curve_rises_with_distance() -> None:
    points = data.load("icao_flights")["economy_kg_per_passenger"]
    assert all(b[0] > a[0] and b[1] > a[1] for a, b in itertools.pairwise(points))


def test_every_city_code_that_is_not_an_airport_has_a_main_airport_of_that_city() -> None:
    """A new airportsdata city code shows up here instead of answering 400."""
    iata = airportsdata.load("IATA")
    mains = data.load("city_airports")["main_airport"]
    for city, mac in airportsdata.load_iata_macs().items():
        if city not in iata:
            assert mains.get(city) in mac["airports"], city


# --- places and distances --------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "destination", "km"),
    [
        ("LHR", "JFK", 5540),  # ICAO and DESNZ worked examples
        ("BER", "SIN", 9921),
        ("FRA", "JFK", 6188),
        ("SYD", "LAX", 12051),
        ("EDDF", "KJFK", 6188),  # ICAO codes
        ("LON", "LAX", 8760),  # a city code: London Heathrow
    ],
)
def test_great_circle_distances_match_published_ones(
    origin: str, destination: str, km: float
) -> None:
    measured = places.great_circle_km(places.locate(origin), places.locate(destination))
    assert measured == pytest.approx(km, rel=0.002)


def test_locations_are_airports_city_codes_or_points() -> None:
    assert places.locate("LHR") == places.locate("EGLL") == places.locate("lon")
    assert places.locate("SHA").code == "SHA"  # an airport code wins over the city code
    point = places.locate("52.52, 13.40")
    assert (point.lat, point.lon, point.country) == (52.52, 13.40, None)
    for unknown in ("XQZ", "London", "91,0", "LONDON-X", ""):
        with pytest.raises(places.UnknownPlace):
            places.locate(unknown)


# --- units -----------------------------------------------------------------------------


def test_carbon_units_report_the_same_grams() -> None:
    assert carbon_in(29472, "gram") == 29472
    assert carbon_in(29472, "kilogram") == Decimal("29.472")
    assert carbon_in(29472, "tonne") == Decimal("0.029472")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("kilometer", "1852.000"), ("meter", "1852000.000"), ("nautical_mile", "1000.000"),
     ("mile", "1150.779"), ("feet", "6076115.486")],
)  # fmt: skip
def test_distance_units(unit: str, expected: str) -> None:
    assert distance_in(1852.0, unit) == Decimal(expected)


# --- worked examples -------------------------------------------------------------------


def test_car_basic_is_exactly_the_documented_example() -> None:
    assert (
        grams(type="car", methodology="BASIC", distance_in_km=245.6, co2_grams_per_km=120) == 29472
    )


def test_car_basic_fallbacks() -> None:
    days = grams(type="car", methodology="BASIC", number_of_days=2, co2_grams_per_km=100)
    assert days == 2 * 60 * 100
    km = places.great_circle_km(places.locate("BER"), places.locate("HAM")) * 1.2
    trip = grams(type="car", methodology="BASIC", origin="BER", destination="HAM",
                 co2_grams_per_km=100)  # fmt: skip
    assert trip == round(km * 100)
    litres = grams(type="car", methodology="BASIC", distance_in_km=100,
                   consumption_per_100_km=5, fuel_type="petrol")  # fmt: skip
    assert litres == round(5 * 8887 / 3.785411784)  # EPA: 8,887 g CO2 per US gallon


def test_car_defra_by_fuel_type() -> None:
    item = {"type": "car", "methodology": "DEFRA", "distance_in_km": 100}
    assert grams(**item, fuel_type="diesel") == 17304
    assert grams(**item, fuel_type="electric") == 4047


def test_flight_defra_matches_desnz_2025() -> None:
    economy = grams(**flight("DEFRA", "LHR", "JFK", booking_class="economy"))
    assert 640_000 < economy < 656_000  # 5,540 km x 0.11704 = 648 kg
    no_rf = grams(**flight("DEFRA", "LHR", "JFK", booking_class="economy",
                           radiative_forcing_index=False))  # fmt: skip
    assert 380_000 < no_rf < 388_000  # x 0.06926 = 384 kg
    first = grams(**flight("DEFRA", "LON", "LAX", booking_class="first", number_of_travelers=2))
    assert 8_100_000 < first < 8_300_000  # 8.2 t
    domestic = grams(**flight("DEFRA", "LHR", "EDI"))  # domestic UK, average
    km = places.great_circle_km(places.locate("LHR"), places.locate("EDI"))
    assert domestic == round(km * 0.22928 * 1000)


def test_flight_icao_within_the_methodologys_range() -> None:
    assert 300_000 <= grams(**flight("ICAO", "LHR", "JFK")) <= 460_000
    two = grams(**flight("ICAO", "BER", "SIN", number_of_travelers=2))
    assert 650_000 <= two <= 2_800_000
    business = grams(**flight("ICAO", "LHR", "JFK", booking_class="business"))
    assert business > 2.5 * grams(**flight("ICAO", "LHR", "JFK"))  # wide-body cabin


def test_a_routed_flight_is_the_sum_of_its_legs() -> None:
    routed = calculate_item({"type": "flight", "methodology": "ICAO", "routing": "BER-FRA-JFK"})
    assert [(leg.origin, leg.destination) for leg in routed.legs] == [
        ("BER", "FRA"),
        ("FRA", "JFK"),
    ]
    legs = grams(**flight("ICAO", "BER", "FRA")), grams(**flight("ICAO", "FRA", "JFK"))
    assert routed.grams == sum(legs)
    assert routed.km == pytest.approx(sum(leg.km for leg in routed.legs))


def test_hotel_train_bus_and_private_jet() -> None:
    assert grams(type="hotel", methodology="DEFRA", country="GB", city="London",
                 number_of_nights=2) == 23000  # fmt: skip
    assert grams(type="hotel", methodology="DEFRA", country="DE", number_of_nights=1) == 13200
    assert grams(type="hotel", methodology="DEFRA", country="BR", number_of_nights=1) == 32100
    train = grams(type="train", methodology="DEFRA", origin="BER", destination="FRA",
                  number_of_travelers=3)  # fmt: skip
    assert 46_000 <= train <= 64_000
    assert grams(type="train", origin="BER", destination="FRA", number_of_travelers=3) == train
    eurostar = grams(type="train", methodology="DEFRA", origin="LHR", destination="CDG")
    km = places.great_circle_km(places.locate("LHR"), places.locate("CDG")) * 1.2
    assert eurostar == round(km * 4.46)  # international rail
    local = grams(type="bus", methodology="DEFRA", origin="52.52,13.40", destination="52.40,13.07")
    km = places.great_circle_km(places.locate("52.52,13.40"), places.locate("52.40,13.07")) * 1.2
    assert local == pytest.approx(km * 103.85, abs=1)  # a local bus, under 50 km
    jet = grams(type="private_jet", methodology="SQUAKE", origin="LFPB", destination="EGGW",
                identifier="P180", identifier_kind="ICAO")  # fmt: skip
    assert 500_000 < jet < 1_500_000


# --- properties ------------------------------------------------------------------------

PER_TRAVELLER = [
    flight("ICAO", "BER", "FRA"),
    flight("DEFRA", "LHR", "JFK", booking_class="business"),
    {"type": "flight", "methodology": "ICAO", "routing": "BER-FRA-JFK"},
    {"type": "train", "methodology": "DEFRA", "origin": "BER", "destination": "MUC"},
    {"type": "bus", "methodology": "DEFRA", "origin": "BER", "destination": "HAM"},
    {"type": "hotel", "methodology": "DEFRA", "country": "FR", "number_of_nights": 3},
]


@pytest.mark.parametrize("item", PER_TRAVELLER)
@pytest.mark.parametrize("travellers", [2, 3, 17])
def test_linear_in_travellers(item: dict[str, Any], travellers: int) -> None:
    one = calculate_item(item).grams
    many = grams(**item, number_of_travelers=travellers)
    assert abs(many - travellers * one) <= travellers  # each result rounds to a whole gram
    assert grams(**item, number_of_travellers=travellers) == many  # the gem's spelling


@pytest.mark.parametrize("nights", [2, 5, 30])
def test_linear_in_nights(nights: int) -> None:
    item = {"type": "hotel", "methodology": "DEFRA", "country": "JP"}
    assert grams(**item, number_of_nights=nights) == nights * grams(**item, number_of_nights=1)


@pytest.mark.parametrize(
    "item",
    [
        {"type": "flight", "methodology": "ICAO"},
        {"type": "flight", "methodology": "ICAO", "booking_class": "first"},
        {"type": "flight", "methodology": "DEFRA"},
        {"type": "train", "methodology": "DEFRA"},
        {"type": "bus", "methodology": "DEFRA"},
        {"type": "car", "methodology": "BASIC", "co2_grams_per_km": 150},
        {"type": "car", "methodology": "DEFRA", "fuel_type": "diesel"},
        {"type": "private_jet", "methodology": "SQUAKE"},
    ],
)
def test_monotonic_in_distance(item: dict[str, Any]) -> None:
    """Farther and farther east of Frankfurt along one parallel (points), then by airport."""
    results = [grams(**item, origin="50.0,8.0", destination=f"50.0,{8.0 + d}")
               for d in (0.1, 0.5, 2, 5, 8, 20, 40, 60, 90, 120, 150)]  # fmt: skip
    assert results == sorted(results)
    assert len(set(results)) == len(results)


def test_the_icao_curve_extrapolates_beyond_its_last_point() -> None:
    assert interpolate([[0, 0], [10, 5], [20, 15]], 30) == 25
    assert interpolate([[0, 0], [10, 5], [20, 15]], 15) == 10


def test_total_is_the_sum_of_items() -> None:
    items = [*PER_TRAVELLER, {"type": "car", "methodology": "BASIC", "distance_in_km": 245.6,
                              "co2_grams_per_km": 120}]  # fmt: skip
    calculation = calculate(items)
    assert calculation.grams == sum(item.grams for item in calculation.items)
    assert [item.type for item in calculation.items] == [item["type"] for item in items]


# --- errors ----------------------------------------------------------------------------


def refusal(*items: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        calculate(list(items))
    return caught.value


def test_unsupported_types_and_methodologies_name_what_is_supported() -> None:
    error = refusal({"type": "ferry", "methodology": "ADEME"},
                    {"type": "flight", "methodology": "TIM"})  # fmt: skip
    assert error.error_code == "invalid_type"
    ferry, tim = error.fields
    assert (ferry.field, ferry.code) == ("items[0].type", "invalid_type")
    assert "flight: ICAO, DEFRA" in ferry.message
    assert (tim.field, tim.code) == ("items[1].methodology", "invalid_methodology")
    assert "ICAO, DEFRA" in tim.message
    assert refusal({"type": "hotel", "methodology": "GREENVIEW", "country": "DE",
                    "number_of_nights": 1}).error_code == "invalid_methodology"  # fmt: skip
    assert refusal({"type": "flight"}).fields[0].field == "items[0].methodology"


def test_every_supported_methodology_is_reachable_by_name() -> None:
    for kind, methods in METHODOLOGIES.items():
        for name in methods:
            with pytest.raises(InvalidRequest) as caught:  # no inputs: names a field
                calculate([{"type": kind, "methodology": name.lower()}])
            assert caught.value.error_code == "field_validation_error", (kind, name)


def test_bad_places_and_routes_name_the_item_and_attribute() -> None:
    error = refusal(flight("ICAO", "BER", "FRA"),
                    {**flight("ICAO", "XQZ", "JFK"), "external_reference": "trip-7"})  # fmt: skip
    assert [f.field for f in error.fields] == ["items[1].origin"]
    assert error.resource == ("item", "trip-7")
    assert refusal(flight("DEFRA", "LHR", "EGLL")).fields[0].field == "items[0].destination"
    both = refusal({**flight("ICAO", "BER", "JFK"), "routing": "BER-FRA-JFK"})
    assert (both.error_code, both.fields[0].field) == ("invalid_params", "items[0].routing")
    assert refusal({"type": "flight", "methodology": "ICAO", "routing": "BER"}).fields[0].field == (
        "items[0].routing"
    )
    assert refusal({"type": "hotel", "methodology": "DEFRA", "country": "XX",
                    "number_of_nights": 1}).fields[0].field == "items[0].country"  # fmt: skip
    assert (
        refusal({"type": "car", "methodology": "BASIC", "distance_in_km": 10}).fields[0].field
        == "items[0].co2_grams_per_km"
    )
    assert refusal({"type": "car", "methodology": "DEFRA", "distance_in_km": 10,
                    "fuel_type": "hydrogen"}).fields[0].field == "items[0].fuel_type"  # fmt: skip
    both_spellings = {**flight("ICAO", "BER", "FRA"), "number_of_travelers": 2,
                      "number_of_travellers": 3}  # fmt: skip
    assert refusal(both_spellings).fields[0].field == "items[0].number_of_travelers"
    jet = {"type": "private_jet", "methodology": "SQUAKE", "origin": "LFPB", "destination": "EGGW"}
    assert refusal({**jet, "identifier": "B744"}).fields[0].field == "items[0].identifier"


def test_the_error_lists_every_bad_item_up_to_a_bound() -> None:
    error = refusal(*[flight("ICAO", "XQZ", "JFK")] * 30)
    assert len(error.fields) == 20
    assert error.fields[-1].field == "items[19].origin"
    assert json.dumps(error.message)  # a plain message


def test_the_benchs_hundred_items_are_all_computed() -> None:
    """``make bench`` times these (bench/calculations.py); a refusal would time the 400."""
    from bench.calculations import hundred_items

    calculation = calculate(hundred_items())
    assert len(calculation.items) == 100
    assert all(item.grams > 0 for item in calculation.items)
