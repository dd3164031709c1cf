"""A calculation priced as a quote (``POST /v2/calculations-with-pricing``).

The calculation's total is quoted exactly as ``GET /v2/pricing`` quotes a quantity
(``quotes.create_quote``: same rules, same table, buyable with ``POST /v2/purchases``);
with ``per_item``, each item is also quoted on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from models.common.caller import Caller
from models.offsets import quotes
from models.offsets.calculations.engine import Calculation
from models.offsets.calculations.units import carbon_in
from models.offsets.quotes import PriceList, Quoted
from tradepost.errors import FieldError, InvalidRequest


@dataclass(frozen=True, slots=True)
class PricedCalculation:
    total: Quoted
    items: tuple[Quoted | None, ...]  # per item with ``per_item`` (None: 0 g), else empty


def price_calculation(
    session: Session,
    caller: Caller,
    prices: PriceList,
    calculation: Calculation,
    *,
    product_id: str,
    currency: str,
    unit: str,
    payment_method: str,
    return_url: str | None,
    per_item: bool,
) -> PricedCalculation:
    if calculation.grams < 1:
        raise InvalidRequest(
            "The items emit nothing to offset.",
            fields=[FieldError("body", "items", "emit 0 g of CO2: nothing to price")],
        )

    def quote(grams: int) -> Quoted:
        return quotes.create_quote(
            session,
            caller,
            prices,
            product_id=product_id,
            currency=currency,
            unit=unit,
            quantity=Decimal(carbon_in(grams, unit)),
            payment_method=payment_method,
            return_url=return_url,
        )

    total = quote(calculation.grams)
    items = (
        tuple(quote(item.grams) if item.grams else None for item in calculation.items)
        if per_item
        else ()
    )
    return PricedCalculation(total, items)
