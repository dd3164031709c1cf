"""Carbon-offset purchases API v2: ``/v2/pricing``, ``/v2/purchases``, ``/v2/files``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from models import offsets
from models.history import snake_case_json
from models.offsets import OffsetFile, OffsetPurchase, PriceList
from tradepost import jsonio
from tradepost.http import (
    base_url,
    body,
    if_match,
    json_response,
    principal,
    query_param,
    read_response,
    request_id,
    services,
)


def _prices() -> PriceList:
    settings = services().settings
    return PriceList(
        per_tonne=settings.offset_prices,
        quote_lifetime=timedelta(minutes=settings.offset_quote_minutes),
        checkout_url=settings.offset_checkout_url,
    )


def _exact_quantity() -> Decimal:
    """The query's ``carbon_quantity`` as written, never through a binary float.

    The spec's bounds and the strict URI parser (a JSON number only) have checked it.
    """
    return Decimal(query_param("carbon_quantity") or "")


def file_json(file: OffsetFile) -> dict[str, Any]:
    base = base_url()
    return {
        "id": file.id,
        "filename": file.filename,
        "purpose": file.purpose,
        "size": file.size,
        "type": "application/pdf",
        "download_url": f"{base}/v2/files/{file.id}/content",
    }


def _with_files(
    session: Session, find: Callable[..., OffsetPurchase], *args: Any, **kwargs: Any
) -> tuple[OffsetPurchase, list[OffsetFile]]:
    """``find``'s purchase and its files, in one transaction on a database thread."""
    purchase = find(session, *args, **kwargs)
    return purchase, offsets.files_of(session, purchase)


def purchase_json(
    purchase: OffsetPurchase, files: list[OffsetFile], expand: list[str] | None
) -> Any:
    checkout = None
    if purchase.payment_method == "stripe":
        checkout = {
            "url": f"{_prices().checkout_url}?purchase={purchase.id}",
            "return_url": purchase.return_url,
        }
    return {
        "id": purchase.id,
        "files": [file_json(f) if expand and "files" in expand else f.id for f in files],
        "payment_method": purchase.payment_method,
        "state": purchase.state,
        "metadata": jsonio.raw(purchase.metadata_json),
        "checkout_page": checkout,
        "carbon_quantity": purchase.carbon_quantity,
        "carbon_unit": purchase.carbon_unit,
        "total": purchase.total,
        "currency": purchase.currency,
        "external_reference": purchase.external_reference,
        "cancellable_until": purchase.cancellable_until,
        "pricing": purchase.quote_id,
        "confirmation_document": jsonio.raw_or_none(purchase.confirmation_json),
        "certificate_document": jsonio.raw_or_none(purchase.certificate_json),
        "created_at": purchase.created_at,
        "updated_at": purchase.updated_at,
    }


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


async def get_pricing(
    token_info: dict[str, Any], carbon_unit: str = "tonne", currency: str = "EUR", **_: Any
) -> Any:
    quote = await services().db.run_write(
        offsets.create_quote,
        principal(token_info),
        _prices(),
        quantity=_exact_quantity(),
        unit=carbon_unit,
        currency=currency,
    )
    payload = {
        "id": quote.id,
        "valid_until": quote.valid_until,
        "carbon_quantity": quote.carbon_quantity,
        "carbon_unit": quote.carbon_unit,
        "total": quote.total,
        "currency": quote.currency,
    }
    return json_response(payload)


async def create_purchase(token_info: dict[str, Any]) -> Any:
    values = body()
    purchase, created, files = await services().db.run_write(
        _created_with_files, principal(token_info), values, _prices(), request_id=request_id()
    )
    payload = purchase_json(purchase, files, values.get("expand"))
    if not created:
        return json_response(payload, headers={"ETag": purchase.etag})
    headers = {"Location": f"/v2/purchases/{purchase.id}", "ETag": purchase.etag}
    return json_response(payload, 201, headers=headers)


async def list_purchases(
    token_info: dict[str, Any],
    limit: int = 20,
    starting_after: str | None = None,
    expand: list[str] | None = None,
) -> Any:
    page, has_more = await services().db.run_read(
        _page_with_files, principal(token_info), limit=limit, starting_after=starting_after
    )
    data = [purchase_json(purchase, files, expand) for purchase, files in page]
    return json_response({"data": data, "has_more": has_more})


async def get_purchase(
    id_: str, token_info: dict[str, Any], expand: list[str] | None = None
) -> Any:
    purchase, files = await services().db.run_read(
        _with_files, offsets.get_purchase, principal(token_info), id_
    )
    return read_response(purchase_json(purchase, files, expand), purchase.etag)


async def update_purchase(id_: str, token_info: dict[str, Any]) -> Any:
    patch = body()
    purchase, files = await services().db.run_write(
        _with_files,
        offsets.update_purchase,
        principal(token_info),
        id_,
        patch,
        precondition=if_match(),
        request_id=request_id(),
    )
    payload = purchase_json(purchase, files, patch.get("expand"))
    return json_response(payload, headers={"ETag": purchase.etag})


async def cancel_purchase(id_: str, token_info: dict[str, Any]) -> Any:
    purchase, files = await services().db.run_write(
        _with_files,
        offsets.cancel_purchase,
        principal(token_info),
        id_,
        precondition=if_match(),
        request_id=request_id(),
    )
    return json_response(purchase_json(purchase, files, None), headers={"ETag": purchase.etag})


async def get_purchase_history(
    id_: str, token_info: dict[str, Any], limit: int = 20, starting_after: int | None = None
) -> Any:
    entries, has_more = await services().db.run_read(
        offsets.purchase_history,
        principal(token_info),
        id_,
        limit=limit,
        starting_after=starting_after,
    )
    return json_response({"data": [snake_case_json(e) for e in entries], "has_more": has_more})


async def get_file(id_: str, token_info: dict[str, Any]) -> Any:
    file = await services().db.run_read(offsets.get_file, principal(token_info), id_)
    return json_response(file_json(file))


async def download_file(id_: str, token_info: dict[str, Any]) -> Any:
    file = await services().db.run_read(offsets.get_file, principal(token_info), id_)
    return Response(
        file.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )
