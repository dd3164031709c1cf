"""Carbon calculations (``/v2/calculations``, ``/v2/calculations-with-pricing``) and
comparison (``/v2/carbon-comparison``): read the body, call the domain, shape the answer."""

from __future__ import annotations

from typing import Any

from handlers.offsets.purchases import price_list, pricing_json
from models.offsets import calculation_pricing, comparison
from models.offsets.calculation_pricing import PricedCalculation
from models.offsets.calculations import engine
from models.offsets.calculations.engine import Calculation, ItemResult
from models.offsets.calculations.units import carbon_in, distance_in
from tradepost.http.request import body, caller, json_response, services


def _units(values: dict[str, Any]) -> tuple[str, str]:
    return values.get("carbon_unit") or "gram", values.get("distance_unit") or "kilometer"


def item_json(item: ItemResult, carbon_unit: str, distance_unit: str, legs: bool) -> dict[str, Any]:
    """Exactly the keys the official client accepts, ``legs`` only when asked for."""
    payload: dict[str, Any] = {
        "carbon_quantity": carbon_in(item.grams, carbon_unit),
        "carbon_unit": carbon_unit,
        "distance": distance_in(item.km, distance_unit),
        "distance_unit": distance_unit,
        "external_reference": item.external_reference,
        "type": item.type,
        "methodology": item.methodology,
    }
    if legs and item.legs:
        payload["legs"] = [
            {
                "origin": leg.origin,
                "destination": leg.destination,
                "distance": distance_in(leg.km, distance_unit),
                "distance_unit": distance_unit,
                "carbon_quantity": carbon_in(leg.grams, carbon_unit),
                "carbon_unit": carbon_unit,
            }
            for leg in item.legs
        ]
    return payload


def _items_json(
    calculation: Calculation, values: dict[str, Any], expand: set[str]
) -> list[dict[str, Any]] | None:
    if not expand & {"items", "legs", "items.pricing"}:
        return None
    carbon_unit, distance_unit = _units(values)
    return [item_json(i, carbon_unit, distance_unit, "legs" in expand) for i in calculation.items]


async def create_calculation() -> Any:
    values = body()
    calculation = engine.calculate(values["items"])
    carbon_unit, _ = _units(values)
    payload: dict[str, Any] = {
        "carbon_quantity": carbon_in(calculation.grams, carbon_unit),
        "carbon_unit": carbon_unit,
    }
    items = _items_json(calculation, values, set(values.get("expand") or ()))
    if items is not None:
        payload["items"] = items
    return json_response(payload)


async def create_calculation_with_pricing() -> Any:
    values = body()
    expand = set(values.get("expand") or ())
    calculation = engine.calculate(values["items"])
    priced: PricedCalculation = await services().db.run_write(
        calculation_pricing.price_calculation,
        caller(),
        price_list(),
        calculation,
        product_id=values["product"],
        currency=values.get("currency") or "EUR",
        unit=_units(values)[0],
        payment_method=values.get("payment_method") or "batch_settlement",
        return_url=values.get("payment_link_return_url"),
        per_item="items.pricing" in expand,
    )
    payload = pricing_json(priced.total, expand)
    items = _items_json(calculation, values, expand)
    if items is not None:
        for item, quoted in zip(items, priced.items, strict=False):
            item["pricing"] = quoted and quoted.quote.id
        payload["items"] = items
    return json_response(payload)


async def create_carbon_comparison() -> Any:
    values = body()
    compared = comparison.compare(values["carbon_quantity"], values["carbon_unit"], values["items"])
    return json_response(
        {
            "carbon_quantity": values["carbon_quantity"],
            "carbon_unit": values["carbon_unit"],
            "items": [
                {"metric": c.metric, "comparison_unit": c.comparison_unit, "amount": c.amount}
                for c in compared
            ],
        }
    )
