"""tokens and trades

Revision ID: 0001
Revises:
Create Date: 2026-11-24 11:52:08.947764
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("display_prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", models.common.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "trades",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("country_code", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("quantity", models.common.types.ExactDecimal(), nullable=False),
        sa.Column("indicative_unit_price", models.common.types.ExactDecimal(), nullable=False),
        sa.Column("total_amount", models.common.types.ExactDecimal(), nullable=False),
        sa.Column("product_unit_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("doc_links", sa.JSON(), nullable=True),
        sa.Column(
            "labelling_requirement", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True
        ),
        sa.Column(
            "packaging_requirement", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index("ix_trades_tenant_pk", ["tenant_id", "pk"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index("ix_trades_tenant_pk")

    op.drop_table("trades")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_tenant_id"))

    op.drop_table("api_tokens")
