"""Bearer tokens: Connexion's ``x-bearerInfoFunc`` and the cache in front of the database.

A verified API token is trusted for ``token_cache_seconds`` (5 s by default) without a
database round trip; revoking one therefore takes effect within that time on every
process. Login tokens (Strategies API) are never cached: a password change revokes them
and must hold at once in every process. Expiry is checked on every request, cached or not.
A lookup runs on a database thread (``Database.run_read``), never on the event loop.
"""

from __future__ import annotations

from cachetools import TTLCache

from models.common.tokens import Principal, find_principal, hash_token
from models.common.types import utcnow
from tradepost.db import Database
from tradepost.errors import Unauthenticated


class TokenVerifier:
    def __init__(self, db: Database, *, ttl: float, maxsize: int) -> None:
        self._db = db
        # Read and written only on the event loop's thread: no lock needed.
        self._cache: TTLCache[str, Principal] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl) if ttl > 0 and maxsize > 0 else None
        )

    async def verify(self, token: str) -> Principal:
        digest = hash_token(token)
        principal = self._cache.get(digest) if self._cache is not None else None
        if principal is None:
            principal = await self._db.run_read(find_principal, digest)
            if principal is None:
                raise Unauthenticated("Invalid token.", code="invalid_token")
            if self._cache is not None and principal.kind != "login":
                self._cache[digest] = principal
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            raise Unauthenticated("Token has expired.", code="token_expired")
        return principal
