"""The trade tracking pipeline: ``/api/v1/trade-tracking-pipeline`` (tag
``trade-tracking-pipeline``)."""

from __future__ import annotations

from typing import Any

from handlers.trades.tenancy import envelope, header_caller
from models.trades import pipeline
from tradepost.http.request import body, if_match, json_response, services


async def _set_stage(stage: str, message: str) -> Any:
    record = await services().db.run_write(
        pipeline.record_stage,
        header_caller(),
        stage=stage,
        values=body(),
        precondition=if_match(),
    )
    payload = envelope(200, message, pipeline.pipeline_fields(record))
    return json_response(payload, headers={"ETag": record.etag})


async def update_trade_tracking_finances() -> Any:
    return await _set_stage(
        "finances",
        "The financial details of the trade tracking pipeline have been successfully updated.",
    )


async def confirm_trade_tracking_payment() -> Any:
    return await _set_stage("confirm-payment", "Payment confirmed successfully.")


async def approve_trade_tracking_sampling() -> Any:
    return await _set_stage("sampling-approval", "Approval successful.")
