"""The domain: tables and the functions that change them, one package per API surface.

- ``models.common``: what every surface shares (the caller, change history, idempotency
  keys, tokens, tenants, rate-limit counters, JSON Merge Patch, column types);
- ``models.trades``: the trade API v1 (trades, their lifecycle, lists, units; trade
  requests, trackings and the tracking pipeline);
- ``models.strategies``: the Strategies API v0 (customers, retailers, strategy
  configurations, purchases, password rules);
- ``models.offsets``: the carbon-offset API v2 (catalogue, quotes, purchases, their PDF
  documents, webhooks and the delivery outbox).

A surface package imports only ``models.common`` and itself (import-linter contracts in
pyproject.toml). Importing this package registers every table on ``SQLModel.metadata``
(Alembic and the schema-drift test rely on that).
"""

# Plain imports: ``from models.trades import trades`` would rebind ``models.trades`` (the
# package) to the module of the same name.
import models.common.history
import models.common.idempotency
import models.common.rate_limits
import models.common.tokens
import models.offsets.catalogue
import models.offsets.outbox
import models.offsets.purchases
import models.offsets.quotes
import models.offsets.webhooks
import models.strategies.configs
import models.strategies.customers
import models.strategies.purchases
import models.strategies.retailers
import models.trades.pipeline
import models.trades.requests
import models.trades.trackings
import models.trades.trades  # noqa: F401
