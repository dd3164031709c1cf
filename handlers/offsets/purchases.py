"""Carbon-offset API v2: ``/v2/pricing``, ``/v2/products``, ``/v2/purchases``, ``/v2/files``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from models.common.history import snake_case_json
from models.common.types import utcnow
from models.offsets import catalogue
from models.offsets import purchases as offsets
from models.offsets import quotes as offset_quotes
from models.offsets.catalogue import OffsetPrice, OffsetProduct
from models.offsets.purchases import OffsetFile, OffsetPurchase
from models.offsets.quotes import PriceList, Quoted
from tradepost.http.request import (
    base_url,
    body,
    caller,
    if_match,
    json_response,
    query_param,
    read_response,
    services,
)


def price_list() -> PriceList:
    """The seller's terms from the settings: quote lifetime and checkout page."""
    settings = services().settings
    return PriceList(
        quote_lifetime=timedelta(days=settings.offset_quote_days),
        checkout_url=settings.offset_checkout_url,
    )


def _exact_quantity() -> Decimal | None:
    """The query's ``carbon_quantity`` as written, never through a binary float.

    The spec's bounds and the strict URI parser (a JSON number only) have checked it.
    """
    quantity = query_param("carbon_quantity")
    return None if quantity is None else Decimal(quantity)


def price_json(price: OffsetPrice) -> dict[str, Any]:
    return {
        "id": price.id,
        "product": price.product_id,
        "unit_amount": price.unit_amount,
        "valid_from": price.valid_from.isoformat(),
        "valid_until": price.valid_until and price.valid_until.isoformat(),
        "carbon_unit": price.carbon_unit,
        "currency": price.currency,
    }


def product_json(
    product: OffsetProduct, locale: str, prices: list[OffsetPrice] | None = None
) -> dict[str, Any]:
    """A product in ``locale``; with ``prices``, the catalogue's full object (files, prices)."""
    title, description = product.text(locale)
    body: dict[str, Any] = {"id": product.id, "title": title, "description": description}
    body.update(product.details)
    if prices is not None:
        body["files"] = []
        body["prices"] = [price_json(price) for price in prices]
    return body


def pricing_json(quoted: Quoted, expand: set[str]) -> dict[str, Any]:
    quote = quoted.quote
    payload = {
        "id": quote.id,
        "valid_until": quote.valid_until.date().isoformat(),
        "carbon_quantity": quote.carbon_quantity,
        "carbon_unit": quote.carbon_unit,
        "currency": quote.currency,
        "total": quote.total,
        "price": price_json(quoted.price) if "price" in expand else quoted.price.id,
        "product": product_json(quoted.product, "en") if "product" in expand else quote.product_id,
    }
    if quote.payment_method == "stripe":
        payload["payment_link"] = f"{price_list().checkout_url}?t={quote.id}"
    return payload


def file_json(file: OffsetFile) -> dict[str, Any]:
    base = base_url()
    return {
        "id": file.id,
        "filename": file.filename,
        "purpose": file.purpose,
        "size": file.size,
        "type": "pdf",
        "download_url": f"{base}/v2/files/{file.id}/content",
        "notification": None,
    }


def _with_files(
    session: Session, find: Callable[..., OffsetPurchase], *args: Any, **kwargs: Any
) -> tuple[OffsetPurchase, list[OffsetFile]]:
    """``find``'s purchase and its files, in one transaction on a database thread."""
    purchase = find(session, *args, **kwargs)
    return purchase, offsets.files_of(session, purchase)


def _created_with_files(
    session: Session, *args: Any, **kwargs: Any
) -> tuple[OffsetPurchase, bool, list[OffsetFile]]:
    purchase, created = offsets.create_purchase(session, *args, **kwargs)
    return purchase, created, offsets.files_of(session, purchase)


def _page_with_files(
    session: Session, *args: Any, **kwargs: Any
) -> tuple[list[tuple[OffsetPurchase, list[OffsetFile]]], bool]:
    page, has_more = offsets.list_purchases(session, *args, **kwargs)
    return [(purchase, offsets.files_of(session, purchase)) for purchase in page], has_more


def purchase_json(
    purchase: OffsetPurchase, files: list[OffsetFile], expand: list[str] | None
) -> Any:
    checkout = None
    if purchase.payment_method == "stripe":
        checkout = {
            "url": f"{price_list().checkout_url}?purchase={purchase.id}",
            "return_url": purchase.return_url,
        }
    return {
        "id": purchase.id,
        "files": [file_json(f) if expand and "files" in expand else f.id for f in files],
        "payment_method": purchase.payment_method,
        **offsets.changeable_fields(purchase),
        "checkout_page": checkout,
        "carbon_quantity": purchase.carbon_quantity,
        "carbon_unit": purchase.carbon_unit,
        "total": purchase.total,
        "currency": purchase.currency,
        "cancellable_until": purchase.cancellable_until,
        "pricing": purchase.quote_id,
        "created_at": purchase.created_at,
        "updated_at": purchase.updated_at,
    }


async def get_pricing(
    product: str | None = None,
    fixed_total: int | None = None,
    carbon_unit: str = "tonne",
    currency: str = "EUR",
    payment_method: str = "batch_settlement",
    payment_link_return_url: str | None = None,
    expand: list[str] | None = None,
    **_: Any,
) -> Any:
    quantity = _exact_quantity()
    quoted = await services().db.run_write(
        offset_quotes.create_quote,
        caller(),
        price_list(),
        product_id=product,
        currency=currency,
        unit=carbon_unit,
        quantity=quantity,
        fixed_total=fixed_total,
        payment_method=payment_method,
        return_url=payment_link_return_url,
    )
    return json_response(pricing_json(quoted, set(expand or ())))


async def get_products(
    locale: str = "en",
    page: int = 1,
    items: int = 25,
    category: str | None = None,
    class_: str | None = None,
    impact_type: str | None = None,
) -> Any:
    found = await services().db.run_read(
        catalogue.priced_products,
        utcnow().date(),
        page=page,
        items=items,
        category=category,
        class_=class_,
        impact_type=impact_type,
    )
    return json_response([product_json(product, locale, prices) for product, prices in found])


async def get_product(id_: str, locale: str = "en") -> Any:
    product, prices = await services().db.run_read(catalogue.priced_product, id_, utcnow().date())
    return json_response(product_json(product, locale, prices))


async def create_purchase() -> Any:
    values = body()
    purchase, created, files = await services().db.run_write(
        _created_with_files, caller(), values, price_list()
    )
    payload = purchase_json(purchase, files, values.get("expand"))
    if not created:
        return json_response(payload, headers={"ETag": purchase.etag})
    headers = {"Location": f"/v2/purchases/{purchase.id}", "ETag": purchase.etag}
    return json_response(payload, 201, headers=headers)


async def list_purchases(
    limit: int = 20,
    starting_after: str | None = None,
    expand: list[str] | None = None,
) -> Any:
    page, has_more = await services().db.run_read(
        _page_with_files, caller(), limit=limit, starting_after=starting_after
    )
    data = [purchase_json(purchase, files, expand) for purchase, files in page]
    return json_response({"data": data, "has_more": has_more})


async def get_purchase(id_: str, expand: list[str] | None = None) -> Any:
    purchase, files = await services().db.run_read(_with_files, offsets.get_purchase, caller(), id_)
    return read_response(purchase_json(purchase, files, expand), purchase.etag)


async def update_purchase(id_: str) -> Any:
    patch = body()
    purchase, files = await services().db.run_statements(
        offsets.update_purchase, caller(), id_, patch, precondition=if_match()
    )
    payload = purchase_json(purchase, files, patch.get("expand"))
    return json_response(payload, headers={"ETag": purchase.etag})


async def cancel_purchase(id_: str) -> Any:
    purchase, files = await services().db.run_write(
        _with_files, offsets.cancel_purchase, caller(), id_, precondition=if_match()
    )
    return json_response(purchase_json(purchase, files, None), headers={"ETag": purchase.etag})


async def get_purchase_history(id_: str, limit: int = 20, starting_after: int | None = None) -> Any:
    entries, has_more = await services().db.run_read(
        offsets.purchase_history,
        caller(),
        id_,
        limit=limit,
        starting_after=starting_after,
    )
    return json_response({"data": [snake_case_json(e) for e in entries], "has_more": has_more})


async def get_file(id_: str) -> Any:
    file = await services().db.run_read(offsets.get_file, caller(), id_)
    return json_response(file_json(file))


async def download_file(id_: str) -> Any:
    file = await services().db.run_read(offsets.get_file, caller(), id_)
    return Response(
        file.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )
