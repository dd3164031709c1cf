"""Tables and the domain functions that change them, one module per resource.

Importing this package registers every table on ``SQLModel.metadata`` (Alembic and the
schema-drift test rely on that).
"""

from models import (  # noqa: F401
    customers,
    history,
    idempotency,
    offsets,
    rate_limits,
    strategies,
    tenants,
    tokens,
    trades,
    webhook_outbox,
    webhooks,
)
