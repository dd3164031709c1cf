"""trade requests, trade trackings, the tracking pipeline, process-flow approvals

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT = sqlmodel.sql.sqltypes.AutoString
_WHEN = models.common.types.UTCDateTime(timezone=True)
_EXACT = models.common.types.ExactDecimal()


def upgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process_flow_approval", sa.JSON(), nullable=True))

    op.create_table(
        "trade_requests",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", _TEXT(length=64), nullable=False),
        sa.Column("user_id", _TEXT(length=64), nullable=False),
        sa.Column("country_code", _TEXT(length=8), nullable=True),
        sa.Column("product_id", _TEXT(length=64), nullable=True),
        sa.Column("quantity", _EXACT, nullable=True),
        sa.Column("testing_required", sa.Boolean(), nullable=True),
        sa.Column("product_specification", sa.Text(), nullable=True),
        sa.Column("terms_and_conditions", sa.Text(), nullable=True),
        sa.Column("doc_links", sa.JSON(), nullable=True),
        sa.Column("business_id", _TEXT(length=64), nullable=True),
        sa.Column("sellers_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trade_id", sa.String(length=36), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_trade_requests_tenant_id"),
    )
    with op.batch_alter_table("trade_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trade_requests_tenant_trade", ["tenant_id", "trade_id"], unique=False
        )

    op.create_table(
        "trade_trackings",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", _TEXT(length=64), nullable=False),
        sa.Column("user_id", _TEXT(length=64), nullable=False),
        sa.Column("country_code", _TEXT(length=8), nullable=True),
        sa.Column("trade_id", sa.String(length=36), nullable=False),
        sa.Column("delivered_quantity", _EXACT, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("itenary", sa.JSON(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("trade_trackings", schema=None) as batch_op:
        batch_op.create_index("ix_trade_trackings_tenant_pk", ["tenant_id", "pk"], unique=False)
        batch_op.create_index(
            "ix_trade_trackings_tenant_trade", ["tenant_id", "trade_id"], unique=False
        )

    op.create_table(
        "trade_pipelines",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", _TEXT(length=64), nullable=False),
        sa.Column("user_id", _TEXT(length=64), nullable=False),
        sa.Column("country_code", _TEXT(length=8), nullable=True),
        sa.Column("trade_id", sa.String(length=36), nullable=False),
        sa.Column("process_flow", sa.String(length=200), nullable=False),
        sa.Column("sampling_approval", sa.Text(), nullable=True),
        sa.Column("finances", sa.Text(), nullable=True),
        sa.Column("payment_confirmation", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "trade_id", "process_flow", name="uq_trade_pipelines_flow"
        ),
    )


def downgrade() -> None:
    op.drop_table("trade_pipelines")
    with op.batch_alter_table("trade_trackings", schema=None) as batch_op:
        batch_op.drop_index("ix_trade_trackings_tenant_trade")
        batch_op.drop_index("ix_trade_trackings_tenant_pk")
    op.drop_table("trade_trackings")
    with op.batch_alter_table("trade_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_trade_requests_tenant_trade")
    op.drop_table("trade_requests")
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_column("process_flow_approval")
