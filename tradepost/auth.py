"""Bearer tokens: Connexion's ``x-bearerInfoFunc`` and the cache in front of the database.

A verified API token is trusted for ``token_cache_seconds`` (5 s by default) without a
database round trip; revoking one therefore takes effect within that time on every
process. Login tokens (Strategies API) are never cached: a password change revokes them
and must hold at once in every process. Expiry is checked on every request, cached or not.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from cachetools import TTLCache

from models.tokens import Principal, find_token, hash_token
from models.types import utcnow
from tradepost.db import Database
from tradepost.errors import Unauthenticated
from tradepost.services import services_of


class TokenVerifier:
    def __init__(self, db: Database, *, ttl: float, maxsize: int) -> None:
        self._db = db
        self._cache: TTLCache[str, Principal] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl) if ttl > 0 and maxsize > 0 else None
        )
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        digest = hash_token(token)
        principal = self._cached(digest)
        if principal is None:
            with self._db.read() as session:
                row = find_token(session, digest)
            if row is None:
                raise Unauthenticated("Invalid token.", code="invalid_token")
            principal = row.principal()
            if row.kind != "login":
                self._remember(digest, principal)
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            raise Unauthenticated("Token has expired.", code="token_expired")
        return principal

    def _cached(self, digest: str) -> Principal | None:
        if self._cache is None:
            return None
        with self._lock:
            return self._cache.get(digest)

    def _remember(self, digest: str, principal: Principal) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache[digest] = principal

    def forget_all(self) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache.clear()


def bearer_info(token: str, request: Any) -> dict[str, Any]:
    """Connexion's bearer hook: the principal for a valid token, else 401; 429 over the
    token's rate limit (``tradepost.ratelimit``)."""
    services = services_of(request.scope)
    principal = services.tokens.verify(token)
    request.scope["state"]["principal"] = principal.label  # for the access log
    request.scope["state"]["caller"] = principal  # for idempotency keys
    services.limiter.check(principal)
    return {"sub": principal.label, "principal": principal}


# Connexion inspects the hook's parameters on every request (PEP 362: a set
# ``__signature__`` is returned as is instead of being rebuilt).
bearer_info.__signature__ = inspect.signature(bearer_info)  # type: ignore[attr-defined]
