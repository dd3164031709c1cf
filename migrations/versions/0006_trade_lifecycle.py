"""trade lifecycle: status, parties, trade date and the sub-resources of the trade API

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:30:00.000000

Existing trades become ``DRAFT``, their responsible user their seller, and their creation
day their trade date.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="DRAFT")
        )
        batch_op.add_column(sa.Column("business_id", _TEXT(length=64), nullable=True))
        batch_op.add_column(sa.Column("buyer_id", _TEXT(length=64), nullable=True))
        batch_op.add_column(sa.Column("seller_id", _TEXT(length=64), nullable=True))
        batch_op.add_column(sa.Column("trade_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("terms_and_conditions", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("testing_details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("payment_details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("delivery_details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("termination_comment", _TEXT(length=1000), nullable=True))
        batch_op.add_column(
            sa.Column("deleted_at", models.common.types.UTCDateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE trades SET seller_id = user_id, trade_date = substr(created_at, 1, 10)")
    else:
        op.execute(
            "UPDATE trades SET seller_id = user_id,"
            " trade_date = CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
        )


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        for column in (
            "deleted_at",
            "termination_comment",
            "delivery_details",
            "payment_details",
            "testing_details",
            "terms_and_conditions",
            "trade_date",
            "seller_id",
            "buyer_id",
            "business_id",
            "status",
        ):
            batch_op.drop_column(column)
