"""Carbon-offset purchases API v2: ``/v2/pricing``, ``/v2/purchases``, ``/v2/files``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from connexion import request
from sqlmodel import Session
from starlette.responses import Response

from models import offsets, webhooks
from models.history import snake_case_json
from models.offsets import OffsetFile, OffsetPurchase, PriceList
from models.webhooks import Webhook
from tradepost import egress, jsonio
from tradepost.errors import FieldError, Unprocessable
from tradepost.http import (
    body,
    if_match,
    json_response,
    principal,
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
    return Decimal(request.query_params["carbon_quantity"])


def file_json(file: OffsetFile) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "id": file.id,
        "filename": file.filename,
        "purpose": file.purpose,
        "size": file.size,
        "type": "application/pdf",
        "download_url": f"{base}/v2/files/{file.id}/content",
    }


def purchase_json(session: Session, purchase: OffsetPurchase, expand: list[str] | None) -> Any:
    files = offsets.files_of(session, purchase)
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


async def get_pricing(
    token_info: dict[str, Any], carbon_unit: str = "tonne", currency: str = "EUR", **_: Any
) -> Any:
    with services().db.write() as session:
        quote = offsets.create_quote(
            session,
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
    with services().db.write() as session:
        purchase, created = offsets.create_purchase(
            session, principal(token_info), values, _prices(), request_id=request_id()
        )
        payload = purchase_json(session, purchase, values.get("expand"))
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
    with services().db.read() as session:
        page, has_more = offsets.list_purchases(
            session, principal(token_info), limit=limit, starting_after=starting_after
        )
        data = [purchase_json(session, purchase, expand) for purchase in page]
    return json_response({"data": data, "has_more": has_more})


async def get_purchase(
    id_: str, token_info: dict[str, Any], expand: list[str] | None = None
) -> Any:
    with services().db.read() as session:
        purchase = offsets.get_purchase(session, principal(token_info), id_)
        payload = purchase_json(session, purchase, expand)
    return read_response(payload, purchase.etag)


async def update_purchase(id_: str, token_info: dict[str, Any]) -> Any:
    patch = body()
    with services().db.write() as session:
        purchase = offsets.update_purchase(
            session,
            principal(token_info),
            id_,
            patch,
            precondition=if_match(),
            request_id=request_id(),
        )
        payload = purchase_json(session, purchase, patch.get("expand"))
    return json_response(payload, headers={"ETag": purchase.etag})


async def cancel_purchase(id_: str, token_info: dict[str, Any]) -> Any:
    with services().db.write() as session:
        purchase = offsets.cancel_purchase(
            session, principal(token_info), id_, precondition=if_match(), request_id=request_id()
        )
        payload = purchase_json(session, purchase, None)
    return json_response(payload, headers={"ETag": purchase.etag})


async def get_purchase_history(
    id_: str, token_info: dict[str, Any], limit: int = 20, starting_after: int | None = None
) -> Any:
    with services().db.read() as session:
        entries, has_more = offsets.purchase_history(
            session, principal(token_info), id_, limit=limit, starting_after=starting_after
        )
    return json_response({"data": [snake_case_json(e) for e in entries], "has_more": has_more})


async def get_file(id_: str, token_info: dict[str, Any]) -> Any:
    with services().db.read() as session:
        payload = file_json(offsets.get_file(session, principal(token_info), id_))
    return json_response(payload)


async def download_file(id_: str, token_info: dict[str, Any]) -> Any:
    with services().db.read() as session:
        file = offsets.get_file(session, principal(token_info), id_)
    return Response(
        file.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


# Webhooks (/v2/webhooks): subscriptions; deliveries are tradepost/webhooks.py's.


def webhook_json(hook: Webhook, *, with_key: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": hook.id,
        "kind": hook.kind,
        "endpoint_url": hook.endpoint_url,
        "last_sent_at": hook.last_sent_at,
        "last_failed_at": hook.last_failed_at,
        "failed_attempts": hook.failed_attempts,
    }
    if with_key:  # shown once, at creation
        payload["signing_key"] = hook.signing_key
    return payload


async def _require_allowed_endpoint(values: dict[str, Any]) -> None:
    """A URL the service may send to; a host that does not resolve yet is checked again
    at each delivery."""
    if "endpoint_url" not in values:
        return
    try:
        await egress.resolve(
            values["endpoint_url"], allow_private=services().settings.webhooks_allow_private
        )
    except egress.Unresolved:
        return
    except egress.RefusedURL as exc:
        raise Unprocessable(
            f"{exc}.",
            fields=[FieldError("body", "endpoint_url", str(exc))],
            code="field_validation_error",
        ) from None


async def list_webhooks(token_info: dict[str, Any]) -> Any:
    with services().db.read() as session:
        payload = [webhook_json(h) for h in webhooks.list_webhooks(session, principal(token_info))]
    return json_response(payload)


async def create_webhook(token_info: dict[str, Any]) -> Any:
    values = body()
    await _require_allowed_endpoint(values)
    with services().db.write() as session:
        hook = webhooks.create_webhook(
            session, principal(token_info), values, request_id=request_id()
        )
        payload = webhook_json(hook, with_key=True)
    headers = {"Location": f"/v2/webhooks/{hook.id}", "ETag": hook.etag}
    return json_response(payload, 201, headers=headers)


async def update_webhook(webhook_id: str, token_info: dict[str, Any]) -> Any:
    values = body()
    await _require_allowed_endpoint(values)
    with services().db.write() as session:
        hook = webhooks.update_webhook(
            session,
            principal(token_info),
            webhook_id,
            values,
            precondition=if_match(),
            request_id=request_id(),
        )
        payload = webhook_json(hook)
    return json_response(payload, headers={"ETag": hook.etag})


patch_webhook = update_webhook


async def delete_webhook(webhook_id: str, token_info: dict[str, Any]) -> Any:
    with services().db.write() as session:
        webhooks.delete_webhook(session, principal(token_info), webhook_id, precondition=if_match())
    return Response(status_code=204)
