"""strategies: retailers, customer names, strategy configurations

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:30:00.000000

A customer gets a display name (empty for existing customers) and belongs to retailers
(``customer_retailers``, by tenant and user); a purchase records the retailer it was
submitted for (null for purchases submitted before this revision); strategy definitions
are stored per user and retailer (``strategy_configs``).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "name",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("name", server_default=None)
    with op.batch_alter_table("strategy_purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retailer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    op.create_table(
        "customer_retailers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("retailer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "user_id", "retailer_id"),
    )
    op.create_table(
        "strategy_configs",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("retailer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("definitions_json", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("tenant_id", "user_id", "retailer_id"),
    )


def downgrade() -> None:
    op.drop_table("strategy_configs")
    op.drop_table("customer_retailers")
    with op.batch_alter_table("strategy_purchases", schema=None) as batch_op:
        batch_op.drop_column("retailer_id")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("name")
