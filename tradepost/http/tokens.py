"""Bearer tokens: Connexion's ``x-bearerInfoFunc`` and the cache in front of the database.

A verified API token is trusted for ``token_cache_seconds`` (5 s by default) without a
database round trip; revoking one therefore takes effect within that time on every
process. Strategies tokens (minted by login) are never cached: a password change revokes them
and must hold at once in every process. Expiry is checked on every request, cached or not.
A lookup runs on a database thread (``Database.run_read``), never on the event loop.

``verify(token, surface)`` is the one credential check of every surface (the bearer hook
calls it; another scheme, such as HTTP Basic with the key as user name, calls it too): a
token of another surface's kind is refused exactly like an unknown one.
"""

from __future__ import annotations

from cachetools import TTLCache

from models.common.tokens import STRATEGIES, Principal, find_principal, hash_token
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

    async def verify(self, token: str, surface: str) -> Principal:
        """The principal of a live token of ``surface``'s kind, else 401."""
        digest = hash_token(token)
        principal = self._cache.get(digest) if self._cache is not None else None
        if principal is None:
            principal = await self._db.run_read(find_principal, digest)
            if principal is None:
                raise Unauthenticated("Invalid token.", code="invalid_token")
            if self._cache is not None and principal.kind != STRATEGIES:
                self._cache[digest] = principal
        if not principal.accepted_on(surface):
            raise Unauthenticated("Invalid token.", code="invalid_token")
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            raise Unauthenticated("Token has expired.", code="token_expired")
        return principal
