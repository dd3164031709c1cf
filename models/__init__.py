"""The domain: tables and the functions that change them, one package per API surface.

- ``models.common``: what every surface shares (the caller, change history, idempotency
  keys, tokens, tenants, rate-limit counters, JSON Merge Patch, column types);
- ``models.trades``: the trade API v1 (trades, their lifecycle, lists, units);
- ``models.strategies``: the Strategies API v0 (customers, retailers, strategy
  configurations, purchases, password rules);
- ``models.offsets``: the carbon-offset API v2 (catalogue, quotes, purchases, their PDF
  documents, webhooks and the delivery outbox).

A surface package imports only ``models.common`` and itself (import-linter contracts in
pyproject.toml). Importing this package registers every table on ``SQLModel.metadata``
(Alembic and the schema-drift test rely on that).
"""

from models.common import history, idempotency, rate_limits, tokens  # noqa: F401
from models.offsets import catalogue, outbox, purchases, quotes, webhooks  # noqa: F401
from models.strategies import configs, customers, retailers  # noqa: F401
from models.strategies import purchases as strategy_purchases  # noqa: F401
from models.trades import trades  # noqa: F401
