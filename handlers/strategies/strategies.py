"""Strategies API v0: ``/api/v0/...`` and ``/health/``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.responses import Response

from models.common.history import snake_case_json
from models.strategies import configs as strategy_configs
from models.strategies import customers
from models.strategies import purchases as strategies
from models.strategies.purchases import StrategyPurchase
from tradepost import jsonio
from tradepost.errors import ApiError, InternalError
from tradepost.http.request import (
    body,
    caller,
    client_address,
    create,
    if_match,
    json_response,
    read_response,
    request_url,
    services,
)

SUBMIT_FAILED = "Internal server error while creating purchase."
STRATEGIES_FAILED = "Internal server error while retrieving strategies."

Handler = Callable[..., Awaitable[Any]]


def failing_as(message: str) -> Callable[[Handler], Handler]:
    """An unexpected failure answers the operation's documented 500 text (and is logged)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return await handler(*args, **kwargs)
            except ApiError:
                raise
            except Exception as exc:
                raise InternalError(message) from exc

        return guarded

    return decorate


async def strategies_health() -> Any:
    return json_response({"status": "healthy"})


async def strategies_login() -> Any:
    """Three steps, so that the Argon2 check (~100 ms) holds no transaction and never runs
    on the loop: read the credentials, verify on a password thread, mint the token."""
    credentials = body()
    email, password = credentials["email"], credentials["password"]
    limiter, address = services().limiter, client_address()
    await limiter.check_login(email, address)
    found = await services().db.run_read(customers.find_credentials, email=email)
    verified = await services().passwords.run(
        customers.verify_password, customers.hash_to_verify(found), password
    )
    if found is None or not verified:
        await limiter.login_failed(email, address)
    customer = customers.check_login(found, verified)
    lifetime = timedelta(hours=services().settings.login_token_hours)
    grant = await services().db.run_write(customers.issue_login, customer, lifetime=lifetime)
    return json_response(
        {
            "token": grant.token,
            "expires_at": grant.expires_at,
            "customer_name": grant.customer.name,
            "customer_email": grant.customer.email,
        }
    )


async def change_strategies_password() -> Any:
    """As login: read, verify the old password and hash the new one on a password thread,
    then write (only if the password is still the one verified)."""
    passwords = body()
    found = await services().db.run_read(customers.credentials_of, caller())
    old_verified = await services().passwords.run(
        customers.verify_password, found.password_hash, passwords["old_password"]
    )
    customers.check_new_password(found, old_verified=old_verified, **passwords)
    new_hash = await services().passwords.run(customers.hash_password, passwords["new_password"])
    await services().db.run_write(customers.set_password, found, new_hash=new_hash)
    return Response(status_code=204)


@failing_as(STRATEGIES_FAILED)
async def list_strategies(
    username: str,
    idretailer: str | None = None,
    retailer_id: str | None = None,
) -> Any:
    config = await services().db.run_read(
        strategy_configs.list_strategies,
        caller(),
        username,
        idretailer=idretailer,
        retailer_id=retailer_id,
    )
    if config is None:
        return json_response(jsonio.raw(strategy_configs.NONE_CONFIGURED))
    return read_response(jsonio.raw(config.definitions_json), config.etag)


@failing_as(SUBMIT_FAILED)
async def submit_strategy_purchase(username: str, retailer_id: str) -> Any:
    def submitted(purchase: StrategyPurchase) -> Any:
        return json_response(
            {
                "id": purchase.id,
                "status": purchase.status,
                "created_at": purchase.created_at,
                "rows_uploaded": purchase.rows_uploaded,
                "error": purchase.error,
                "message": (
                    f"CustomerPurchase created successfully with ID: {purchase.id} "
                    f"for user: {username} and retailer: {retailer_id}"
                ),
            },
            201,
            headers={"ETag": purchase.etag},
        )

    rows = body()["purchase"]
    return await create(
        strategies.submit_purchase,
        submitted,
        caller(),
        username,
        rows,
        retailer_id=retailer_id,
    )


# The path form (``.../submit-purchase/{retailer_id}``) is the same operation.
submit_strategy_purchase_for_retailer = submit_strategy_purchase


async def get_strategy_purchase(username: str, purchase_id: str, idmodel: str | None = None) -> Any:
    purchase = await services().db.run_read(
        strategies.get_purchase, caller(), username, purchase_id
    )
    return read_response(
        {
            "id": purchase.id,
            "status": purchase.status,
            "error": purchase.error,
            "created_at": purchase.created_at,
            "strategy_output": strategies.strategy_output(purchase, idmodel),
            "updated_at": purchase.updated_at,
            "retailer_id": purchase.retailer_id,
            "rows_uploaded": purchase.rows_uploaded,
            "purchase": jsonio.raw(purchase.rows_json),
        },
        purchase.etag,
    )


async def update_strategy_purchase(username: str, purchase_id: str) -> Any:
    purchase = await services().db.run_statements(
        strategies.update_purchase, caller(), username, purchase_id, body(), precondition=if_match()
    )
    return json_response(
        {
            **_summary(purchase),
            "outputs": strategies.outputs_of(purchase),
            "message": f"CustomerPurchase {purchase.id} updated successfully",
        },
        headers={"ETag": purchase.etag},
    )


async def get_strategy_purchase_history(
    username: str, purchase_id: str, limit: int = 20, offset: int = 0
) -> Any:
    entries, total = await services().db.run_read(
        strategies.purchase_history,
        caller(),
        username,
        purchase_id,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "count": total,
            "next": _page_url(limit, offset + limit) if offset + limit < total else None,
            "previous": _page_url(limit, max(offset - limit, 0)) if offset > 0 else None,
            "results": [snake_case_json(e) for e in entries],
        }
    )


def _page_url(limit: int, offset: int) -> str:
    return str(request_url().include_query_params(limit=limit, offset=offset))


def _summary(purchase: StrategyPurchase) -> dict[str, Any]:
    return {
        "id": purchase.id,
        "status": purchase.status,
        "error": purchase.error,
        "updated_at": purchase.updated_at,
    }
