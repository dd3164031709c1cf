"""Price quotes ("pricings") of the carbon-offset API v2, and their rules.

Rules (also written in openapi.yaml, ``getPricing`` and ``createPurchase``):
- A quote prices one product (the default product when none is named) in one currency at
  the product's current catalogue price: by ``carbon_quantity`` (the total is rounded up to
  the next minor unit, in exact decimals) or by ``fixed_total`` (the quantity is what the
  total buys, rounded half up to whole grams).
- No current price for the product in that currency, or no such product: 400
  ``no_price_found``.
- A quote belongs to the API key's tenant and serves any number of purchases. It is valid
  until ``valid_until``, and after that still accepted while the price it was made from is
  still the product's current price (409 ``pricing_expired`` otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal

from sqlalchemy import BigInteger, Boolean, Column, String
from sqlmodel import Field, Session, SQLModel, select

from models.common.caller import Caller
from models.common.types import ExactDecimal, UTCDateTime, surrogate_pk, utcnow
from models.offsets import catalogue
from models.offsets.catalogue import OffsetPrice, OffsetProduct
from models.offsets.ids import new_id
from tradepost.errors import Conflict, FieldError, InvalidRequest, NotFound

GRAMS_PER_UNIT = {"tonne": 10**6, "kilogram": 10**3, "gram": 1}


class OffsetQuote(SQLModel, table=True):
    __tablename__ = "offset_quotes"

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(80), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64, index=True)
    product_id: str | None = Field(default=None, max_length=80)  # null: made before products
    price_id: str | None = Field(default=None, max_length=80)
    carbon_quantity: Decimal = Field(sa_column=Column(ExactDecimal, nullable=False))
    carbon_unit: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    fixed_total: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    payment_method: str = Field(default="batch_settlement", max_length=32)
    return_url: str | None = Field(default=None, max_length=2000)
    valid_until: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


@dataclass(frozen=True, slots=True)
class PriceList:
    """The seller's terms: prices from the catalogue, quotes valid ``quote_lifetime``."""

    quote_lifetime: timedelta
    checkout_url: str  # the payment page of `stripe` quotes and purchases

    def current_price(
        self, session: Session, product_id: str, currency: str, on: date
    ) -> OffsetPrice | None:
        return catalogue.current_price(session, product_id, currency, on)


@dataclass(frozen=True, slots=True)
class Quoted:
    quote: OffsetQuote
    price: OffsetPrice
    product: OffsetProduct


def _exact(*numbers: Decimal | int) -> Context:
    """Enough digits that a product of these is exact (the default context keeps 28)."""
    digits = sum(len(Decimal(n).as_tuple().digits) for n in numbers)
    return Context(prec=digits + 40)


def total_for(quantity: Decimal, unit: str, price: OffsetPrice) -> int:
    """The price of ``quantity`` ``unit``, rounded up to the next minor unit (never free)."""
    grams = GRAMS_PER_UNIT[unit]
    context = _exact(quantity, grams, price.unit_amount)
    exact = context.divide(
        context.multiply(context.multiply(quantity, Decimal(grams)), Decimal(price.unit_amount)),
        Decimal(GRAMS_PER_UNIT[price.carbon_unit]),
    )
    return int(exact.to_integral_value(ROUND_CEILING))


def quantity_for(total: int, unit: str, price: OffsetPrice) -> Decimal:
    """What ``total`` minor units buy, rounded half up to whole grams, in ``unit``."""
    grams = (
        Decimal(total) * GRAMS_PER_UNIT[price.carbon_unit] / Decimal(price.unit_amount)
    ).quantize(Decimal(1), ROUND_HALF_UP)
    if grams < 1:
        raise InvalidRequest(
            "fixed_total buys less than one gram at this price.",
            fields=[FieldError("query", "fixed_total", "buys less than one gram")],
        )
    return _exact(grams).divide(grams, Decimal(GRAMS_PER_UNIT[unit]))


def create_quote(
    session: Session,
    caller: Caller,
    prices: PriceList,
    *,
    product_id: str | None,
    currency: str,
    unit: str,
    quantity: Decimal | None = None,
    fixed_total: int | None = None,
    payment_method: str = "batch_settlement",
    return_url: str | None = None,
) -> Quoted:
    if (quantity is None) == (fixed_total is None):
        raise InvalidRequest(
            "Send either carbon_quantity or fixed_total.",
            fields=[FieldError("query", "carbon_quantity", "or fixed_total is required, not both")],
        )
    now = utcnow()
    product = catalogue.find_product(session, product_id)
    price = (
        None if product is None else prices.current_price(session, product.id, currency, now.date())
    )
    if product is None or price is None:
        blamed = "product" if product is None else "currency"
        raise InvalidRequest(
            f"No price found for product {product_id or '(default)'} in {currency}.",
            code="no_price_found",
            fields=[FieldError("query", blamed, f"has no price: {product_id} in {currency}")],
        )
    if quantity is None:
        assert fixed_total is not None
        quantity, total = quantity_for(fixed_total, unit, price), fixed_total
    else:
        total = total_for(quantity, unit, price)
    quote = OffsetQuote(
        id=new_id("pricing_"),
        tenant_id=caller.tenant_id,
        product_id=product.id,
        price_id=price.id,
        carbon_quantity=quantity,
        carbon_unit=unit,
        currency=currency,
        total=total,
        fixed_total=fixed_total is not None,
        payment_method=payment_method,
        return_url=return_url,
        valid_until=now + prices.quote_lifetime,
        created_at=now,
    )
    session.add(quote)
    session.flush()
    return Quoted(quote, price, product)


def quote_for_purchase(
    session: Session, caller: Caller, prices: PriceList, quote_id: str
) -> OffsetQuote:
    """The API key's quote, if a purchase can still be made from it."""
    quote = session.exec(
        select(OffsetQuote).where(
            OffsetQuote.id == quote_id, OffsetQuote.tenant_id == caller.tenant_id
        )
    ).first()
    if quote is None:
        raise NotFound(f"No pricing found with id {quote_id}.", resource=("pricing", quote_id))
    now = utcnow()
    if quote.valid_until < now:
        price = quote.product_id and prices.current_price(
            session, quote.product_id, quote.currency, now.date()
        )
        if not price or price.id != quote.price_id:
            raise Conflict(
                "The pricing has expired and its price has changed; get a new one.",
                code="pricing_expired",
                resource=("pricing", quote_id),
            )
    return quote
