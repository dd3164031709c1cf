"""strategies customers and purchases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 12:07:49.616904
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("tenant_id", "username"),
    )
    op.create_table(
        "strategy_purchases",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("rows_json", sa.Text(), nullable=False),
        sa.Column("rows_uploaded", sa.Integer(), nullable=False),
        sa.Column("outputs_json", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("strategy_purchases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_strategy_purchases_owner", ["tenant_id", "user_id", "pk"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("strategy_purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_strategy_purchases_owner")

    op.drop_table("strategy_purchases")
    op.drop_table("customers")
