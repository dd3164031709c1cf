"""Carbon-offset API v2 webhooks (``/v2/webhooks``): subscriptions; deliveries are
``tradepost.workers.webhooks``'s."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from models.offsets import webhooks
from models.offsets.webhooks import Webhook
from tradepost.errors import FieldError, Unprocessable
from tradepost.http.request import body, caller, if_match, json_response, services
from tradepost.workers import egress


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


async def list_webhooks() -> Any:
    hooks = await services().db.run_read(webhooks.list_webhooks, caller())
    return json_response([webhook_json(hook) for hook in hooks])


async def create_webhook() -> Any:
    values = body()
    await _require_allowed_endpoint(values)
    hook = await services().db.run_write(webhooks.create_webhook, caller(), values)
    headers = {"Location": f"/v2/webhooks/{hook.id}", "ETag": hook.etag}
    return json_response(webhook_json(hook, with_key=True), 201, headers=headers)


async def update_webhook(webhook_id: str) -> Any:
    values = body()
    await _require_allowed_endpoint(values)
    hook = await services().db.run_write(
        webhooks.update_webhook, caller(), webhook_id, values, precondition=if_match()
    )
    return json_response(webhook_json(hook), headers={"ETag": hook.etag})


patch_webhook = update_webhook


async def delete_webhook(webhook_id: str) -> Any:
    await services().db.run_write(
        webhooks.delete_webhook, caller(), webhook_id, precondition=if_match()
    )
    return Response(status_code=204)
