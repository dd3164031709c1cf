"""credential kinds: every token is for one surface

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:20:00.000000

Before this revision one ``api_tokens`` table served every surface: ``kind`` was ``login``
(minted by a Strategies login) or ``api`` (minted by ``tradepost tokens create``), and any
token was accepted on all three APIs. From now on a token's ``kind`` names the one surface
that accepts it (``models.common.tokens``). Existing tokens keep working on the surface
they were minted for, decided from the data, in this order:

1. ``login`` -> ``strategies``: minted by the Strategies login, for its customer.
2. ``api`` bound to a user -> ``strategies`` when its change history shows it wrote only
   Strategies purchases, or, with no history, when its (tenant, user) is a Strategies
   customer and the tenant has no trades (a customer's key minted by the CLI, which the
   README said keeps working); else ``trades`` (the README's `--tenant TEN123 --user
   USR456`). A user-bound token is never a carbon-offset key: that key is the client's,
   and a user-bound token with tenant-wide rights on `/v2` is the hole this closes.
3. ``api`` tenant-wide -> the one surface its change history shows it wrote on (trades;
   or carbon offsets: purchases, webhooks); with no history, the one surface its tenant
   has records on (trades; or offset quotes, purchases, webhooks). When the data names
   both or neither, it becomes ``trades+offsets``: valid, tenant-wide, on the trade API
   and as a carbon-offset key, the rights it had there, and nothing more (it no longer
   works on the Strategies API, whose only credentials are customers' login tokens).
   Operators replace such tokens with one of each kind (``tradepost tokens list`` shows
   them) and revoke them.

Downgrade maps ``strategies`` back to ``login`` and every other kind to ``api``.
"""

# ruff: noqa: S608 (the SQL is built from the constants below, never from input)
from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _wrote(resource_type: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM change_history h WHERE h.actor_token_id = api_tokens.id "
        f"AND h.resource_type = '{resource_type}')"
    )


_WROTE_OFFSETS = f"({_wrote('offset_purchase')} OR {_wrote('webhook')})"
_WROTE_ANY = "EXISTS (SELECT 1 FROM change_history h WHERE h.actor_token_id = api_tokens.id)"
_TENANT_TRADES = "EXISTS (SELECT 1 FROM trades t WHERE t.tenant_id = api_tokens.tenant_id)"
_TENANT_OFFSETS = (
    "(EXISTS (SELECT 1 FROM offset_quotes q WHERE q.tenant_id = api_tokens.tenant_id) "
    "OR EXISTS (SELECT 1 FROM offset_purchases p WHERE p.tenant_id = api_tokens.tenant_id) "
    "OR EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = api_tokens.tenant_id))"
)
_CUSTOMER = (
    "EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = api_tokens.tenant_id "
    "AND c.username = api_tokens.user_id)"
)


def upgrade() -> None:
    execute = op.execute
    execute("UPDATE api_tokens SET kind = 'strategies' WHERE kind = 'login'")
    # User-bound CLI tokens: a customer's key, else a trade API token.
    execute(
        "UPDATE api_tokens SET kind = 'strategies' WHERE kind = 'api' AND user_id IS NOT NULL "
        f"AND (({_wrote('strategy_purchase')} AND NOT {_wrote('trade')} "
        f"AND NOT {_WROTE_OFFSETS}) "
        f"OR (NOT {_WROTE_ANY} AND {_CUSTOMER} AND NOT {_TENANT_TRADES}))"
    )
    execute("UPDATE api_tokens SET kind = 'trades' WHERE kind = 'api' AND user_id IS NOT NULL")
    # Tenant-wide CLI tokens: the one surface the token's history, else its tenant's
    # records, name; both or neither: trades and offsets, as before.
    execute(
        "UPDATE api_tokens SET kind = 'trades' WHERE kind = 'api' AND user_id IS NULL "
        f"AND (({_wrote('trade')} AND NOT {_WROTE_OFFSETS}) "
        f"OR (NOT {_WROTE_ANY} AND {_TENANT_TRADES} AND NOT {_TENANT_OFFSETS}))"
    )
    execute(
        "UPDATE api_tokens SET kind = 'offsets' WHERE kind = 'api' AND user_id IS NULL "
        f"AND (({_WROTE_OFFSETS} AND NOT {_wrote('trade')}) "
        f"OR (NOT {_WROTE_ANY} AND {_TENANT_OFFSETS} AND NOT {_TENANT_TRADES}))"
    )
    execute("UPDATE api_tokens SET kind = 'trades+offsets' WHERE kind = 'api'")


def downgrade() -> None:
    op.execute("UPDATE api_tokens SET kind = 'login' WHERE kind = 'strategies'")
    op.execute("UPDATE api_tokens SET kind = 'api' WHERE kind <> 'login'")
