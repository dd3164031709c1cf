"""Tables and the domain functions that change them, one module per resource.

Importing this package registers every table on ``SQLModel.metadata`` (Alembic and the
schema-drift test rely on that).
"""

from models import (  # noqa: F401
    customers,
    history,
    idempotency,
    offset_catalogue,
    offset_quotes,
    offsets,
    rate_limits,
    retailers,
    strategies,
    strategy_configs,
    tenants,
    tokens,
    trades,
    webhook_outbox,
    webhooks,
)
