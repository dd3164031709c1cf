"""Connexion's bearer hook (``x-bearerInfoFunc``): the token's caller, or 401; and the
HTTP Basic hook (``x-basicInfoFunc``) of the carbon-offset API v2, the same check.

The token itself is checked by ``tradepost.http.tokens.TokenVerifier`` (cached, on a
database thread); its rate limits, and those of the client address sending invalid
tokens, by ``tradepost.http.ratelimit``.
"""

from __future__ import annotations

from typing import Any

from models.common.caller import Caller
from tradepost.errors import Unauthenticated
from tradepost.http.context import client_address, context_of
from tradepost.surfaces import surface_for


async def bearer_info(token: str, request: Any) -> dict[str, Any]:
    """Connexion's bearer hook: the principal for a valid token of the request's surface
    (``tradepost.surfaces``), else 401 in that surface's format; 429 over the
    token's rate limit (``tradepost.http.ratelimit``). Sets the request context's ``Caller``,
    which handlers read through ``tradepost.http.request.caller``."""
    ctx = context_of(request.scope)
    surface = surface_for(request.scope["path"])
    address = client_address(request.scope)
    ctx.services.limiter.check_address(address)
    try:
        principal = await ctx.services.tokens.verify(token, surface.name)
    except Unauthenticated:
        await ctx.services.limiter.auth_failed(address)
        raise
    ctx.caller = Caller.of(principal, ctx.service_request_id, ctx.client_request_id)
    await ctx.services.limiter.check(principal)
    return {"sub": principal.label, "principal": principal}


async def basic_info(username: str, password: str, request: Any) -> dict[str, Any]:
    """Connexion's HTTP Basic hook (``x-basicInfoFunc``), for the carbon-offset API v2,
    whose docs send the API key as the user name with an empty password (``curl -u KEY:``):
    the same check, caller and rate limit as the bearer token. A non-empty password is
    401, so that a key is never taken from a credential pair it was not meant as."""
    if password:
        raise Unauthenticated(
            "Send the API key as the user name, with an empty password.", code="invalid_token"
        )
    return await bearer_info(username, request)
