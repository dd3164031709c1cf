"""webhooks and their outbox

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT = sqlmodel.sql.sqltypes.AutoString
_WHEN = models.common.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", _TEXT(length=64), nullable=False),
        sa.Column("kind", _TEXT(length=48), nullable=False),
        sa.Column("endpoint_url", _TEXT(length=2000), nullable=False),
        sa.Column("signing_key", _TEXT(length=64), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", _WHEN, nullable=True),
        sa.Column("last_failed_at", _WHEN, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index("ix_webhooks_tenant_kind", ["tenant_id", "kind"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("event_id", _TEXT(length=40), nullable=False),
        sa.Column("webhook_id", _TEXT(length=36), nullable=False),
        sa.Column("tenant_id", _TEXT(length=64), nullable=False),
        sa.Column("kind", _TEXT(length=48), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", _TEXT(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _WHEN, nullable=False),
        sa.Column("lease_token", _TEXT(length=32), nullable=True),
        sa.Column("lease_until", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("delivered_at", _WHEN, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", _TEXT(length=300), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_webhook", ["webhook_id", "state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_webhook")
        batch_op.drop_index("ix_webhook_deliveries_due")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index("ix_webhooks_tenant_kind")
    op.drop_table("webhooks")
