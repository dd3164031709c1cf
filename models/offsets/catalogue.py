"""The carbon-offset product catalogue: products and their prices per currency.

Rules (also written in openapi.yaml):
- The catalogue is the seller's, shared by every API key; it is managed with the CLI
  (``tradepost products ...``), never through the API.
- A price is minor currency units per ``carbon_unit``, valid from ``valid_from``
  (inclusive) until ``valid_until`` (exclusive; open-ended when null). Prices are added,
  never edited: a new price supersedes the old one from its first day.
- The current price of a product in a currency on a day is the valid one with the latest
  ``valid_from`` (the newest row on a tie).
- At most one product is the default, priced when a quote names none.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, Index, String, Text, delete, update
from sqlmodel import Field, Session, SQLModel, col, or_, select

from models.common.types import UTCDateTime, surrogate_pk, utcnow
from models.offsets.ids import new_id
from tradepost import jsonio
from tradepost.errors import InvalidRequest, NotFound

LOCALES = ("de", "en", "es", "fr", "hi", "it", "ja", "pt", "pt-BR", "zh-CN")
DETAIL_LISTS = ("locations", "certifications", "sdgs", "categories", "impact_types", "classes")


class OffsetProduct(SQLModel, table=True):
    __tablename__ = "offset_products"

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(80), nullable=False, unique=True))
    title: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    # {"locations": [{"country": "GT"}], "certifications": [...], "sdgs": [...], ...}
    details_json: str = Field(sa_column=Column(Text, nullable=False))
    # {"de": {"title": "...", "description": "..."}}; English is the base text
    translations_json: str = Field(sa_column=Column(Text, nullable=False))
    is_default: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def details(self) -> dict[str, list[Any]]:
        stored: dict[str, list[Any]] = jsonio.loads(self.details_json)
        return {name: stored.get(name, []) for name in DETAIL_LISTS}

    def text(self, locale: str) -> tuple[str, str]:
        """Title and description in ``locale``, English where it has no translation."""
        found = jsonio.loads(self.translations_json).get(locale, {})
        return found.get("title", self.title), found.get("description", self.description)

    def has_code(self, kind: str, code: str) -> bool:
        return any(entry.get("code") == code for entry in self.details[kind])


class OffsetPrice(SQLModel, table=True):
    __tablename__ = "offset_prices"
    __table_args__ = (Index("ix_offset_prices_product_currency", "product_id", "currency"),)

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(80), nullable=False, unique=True))
    product_id: str = Field(max_length=80)
    currency: str = Field(max_length=3)
    unit_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    carbon_unit: str = Field(max_length=16)
    valid_from: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def create_product(
    session: Session,
    *,
    title: str,
    description: str,
    product_id: str | None = None,
    details: dict[str, list[Any]] | None = None,
    default: bool = False,
) -> OffsetProduct:
    now = utcnow()
    if default:
        session.execute(update(OffsetProduct).values(is_default=False))
    product = OffsetProduct(
        id=product_id or new_id("product_"),
        title=title,
        description=description,
        details_json=jsonio.dumps({k: v for k, v in (details or {}).items() if v}).decode(),
        translations_json="{}",
        is_default=default,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    session.flush()
    return product


def translate_product(
    session: Session, product_id: str, *, locale: str, title: str, description: str
) -> OffsetProduct:
    product = get_product(session, product_id)
    translations = jsonio.loads(product.translations_json)
    translations[locale] = {"title": title, "description": description}
    product.translations_json = jsonio.dumps(translations).decode()
    product.updated_at = utcnow()
    session.add(product)
    session.flush()
    return product


def remove_product(session: Session, product_id: str) -> bool:
    """Delete a product and its prices; purchases keep what they were quoted."""
    session.execute(delete(OffsetPrice).where(col(OffsetPrice.product_id) == product_id))
    removed = session.execute(delete(OffsetProduct).where(col(OffsetProduct.id) == product_id))
    return bool(removed.rowcount)  # type: ignore[attr-defined]


def add_price(
    session: Session,
    *,
    product_id: str,
    currency: str,
    unit_amount: int,
    carbon_unit: str = "tonne",
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> OffsetPrice:
    get_product(session, product_id)
    starts = valid_from or utcnow().date()
    if valid_until is not None and valid_until <= starts:
        raise InvalidRequest("A price must end after it starts (valid_until > valid_from).")
    if unit_amount < 1:
        raise InvalidRequest("A price is at least one minor currency unit.")
    price = OffsetPrice(
        id=new_id("price_"),
        product_id=product_id,
        currency=currency,
        unit_amount=unit_amount,
        carbon_unit=carbon_unit,
        valid_from=starts,
        valid_until=valid_until,
        created_at=utcnow(),
    )
    session.add(price)
    session.flush()
    return price


def get_product(session: Session, product_id: str) -> OffsetProduct:
    found = session.exec(select(OffsetProduct).where(OffsetProduct.id == product_id)).first()
    if found is None:
        raise NotFound(f"No product found with id {product_id}.", resource=("product", product_id))
    return found


def find_product(session: Session, product_id: str | None) -> OffsetProduct | None:
    """The named product, or the default one when none is named; None when there is none."""
    statement = select(OffsetProduct)
    if product_id is None:
        statement = statement.where(col(OffsetProduct.is_default))
    else:
        statement = statement.where(OffsetProduct.id == product_id)
    return session.exec(statement).first()


def _valid_on(day: date) -> Any:
    return (col(OffsetPrice.valid_from) <= day) & or_(
        col(OffsetPrice.valid_until).is_(None), col(OffsetPrice.valid_until) > day
    )


def current_price(session: Session, product_id: str, currency: str, on: date) -> OffsetPrice | None:
    statement = (
        select(OffsetPrice)
        .where(OffsetPrice.product_id == product_id, OffsetPrice.currency == currency)
        .where(_valid_on(on))
        .order_by(col(OffsetPrice.valid_from).desc(), col(OffsetPrice.pk).desc())
    )
    return session.exec(statement).first()


def current_prices(
    session: Session, product_ids: list[str], on: date
) -> dict[str, list[OffsetPrice]]:
    """Each product's current price in every currency it has one in, by currency."""
    statement = (
        select(OffsetPrice)
        .where(col(OffsetPrice.product_id).in_(product_ids))
        .where(_valid_on(on))
        .order_by(col(OffsetPrice.valid_from).desc(), col(OffsetPrice.pk).desc())
    )
    chosen: dict[tuple[str, str], OffsetPrice] = {}
    for price in session.exec(statement):
        chosen.setdefault((price.product_id, price.currency), price)
    found: dict[str, list[OffsetPrice]] = {product_id: [] for product_id in product_ids}
    for (product_id, _currency), price in sorted(chosen.items()):
        found[product_id].append(price)
    return found


def list_products(
    session: Session,
    *,
    page: int = 1,
    items: int = 25,
    category: str | None = None,
    class_: str | None = None,
    impact_type: str | None = None,
) -> list[OffsetProduct]:
    """One page of the catalogue in creation order, filtered by category, class and impact
    type codes (the catalogue is small and operator-made: filtered in memory)."""
    products = list(session.exec(select(OffsetProduct).order_by(col(OffsetProduct.pk))))
    for kind, code in (
        ("categories", category),
        ("classes", class_),
        ("impact_types", impact_type),
    ):
        if code is not None:
            products = [p for p in products if p.has_code(kind, code)]
    start = (page - 1) * items
    return products[start : start + items]


def all_prices(session: Session, product_id: str) -> list[OffsetPrice]:
    """Every price a product has had or will have, oldest first (for the CLI)."""
    statement = select(OffsetPrice).where(OffsetPrice.product_id == product_id)
    return list(session.exec(statement.order_by(col(OffsetPrice.pk))))


# The example catalogue ``tradepost products seed`` adds to an empty catalogue, so that a
# fresh installation (``make run``) can quote and buy at once. Prices per tonne, in cents.
EXAMPLES: tuple[dict[str, Any], ...] = (
    {
        "product_id": "product_example1",
        "title": "Example forest protection project",
        "description": "An example product of the default catalogue: protection of a "
        "tropical forest against logging. Replace it with your own products.",
        "details": {
            "locations": [{"country": "BR", "sub_region": None, "region": "Americas"}],
            "certifications": ["Verified Carbon Standard"],
            "sdgs": [13, 15],
            "categories": [{"code": "forestry", "title": "Forestry"}],
            "impact_types": [{"code": "avoidance", "title": "Avoidance"}],
            "classes": [{"code": "nature_based", "title": "Nature-based"}],
        },
        "default": True,
        "prices": {"EUR": 1500, "USD": 1650, "GBP": 1300, "CHF": 1450},
    },
    {
        "product_id": "product_example2",
        "title": "Example clean cookstoves project",
        "description": "An example product of the default catalogue: efficient cookstoves "
        "that burn less wood. Replace it with your own products.",
        "details": {
            "locations": [{"country": "GT", "sub_region": None, "region": "Americas"}],
            "certifications": ["Gold Standard VER"],
            "sdgs": [3, 7, 13],
            "categories": [{"code": "cookstoves", "title": "Cookstoves"}],
            "impact_types": [{"code": "avoidance", "title": "Avoidance"}],
            "classes": [{"code": "technology_based", "title": "Technology-based"}],
        },
        "default": False,
        "prices": {"EUR": 1231, "USD": 1350},
    },
)


def seed_examples(session: Session) -> int:
    """Add the example catalogue when the catalogue is empty; the number of products added."""
    if session.exec(select(OffsetProduct.pk).limit(1)).first() is not None:
        return 0
    for example in EXAMPLES:
        create_product(
            session,
            product_id=example["product_id"],
            title=example["title"],
            description=example["description"],
            details=example["details"],
            default=example["default"],
        )
        for currency, amount in example["prices"].items():
            add_price(
                session,
                product_id=example["product_id"],
                currency=currency,
                unit_amount=amount,
                valid_from=date(2024, 1, 1),
            )
    return len(EXAMPLES)


def priced_product(
    session: Session, product_id: str, on: date
) -> tuple[OffsetProduct, list[OffsetPrice]]:
    """A product and its current prices (one per currency)."""
    product = get_product(session, product_id)
    return product, current_prices(session, [product.id], on)[product.id]


def priced_products(
    session: Session, /, on: date, **filters: Any
) -> list[tuple[OffsetProduct, list[OffsetPrice]]]:
    """One page of products (``list_products``' filters), each with its current prices."""
    products = list_products(session, **filters)
    prices = current_prices(session, [product.id for product in products], on)
    return [(product, prices[product.id]) for product in products]
