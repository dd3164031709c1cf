"""offset products and prices; reusable quotes priced from them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:50:00.000000

The catalogue starts empty: ``tradepost products seed`` adds the example products
(``make run`` does it). Quotes and purchases made before the catalogue keep a null
``product_id``/``price_id``; quotes are no longer single-use, so ``used`` goes.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.common.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "offset_products",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("translations_json", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "offset_prices",
        sa.Column("pk", _PK, nullable=False),
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("carbon_unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", models.common.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("offset_prices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offset_prices_product_currency", ["product_id", "currency"], unique=False
        )
    with op.batch_alter_table("offset_quotes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )
        batch_op.add_column(
            sa.Column("price_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )
        batch_op.add_column(
            sa.Column("fixed_total", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "payment_method",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="batch_settlement",
            )
        )
        batch_op.add_column(
            sa.Column("return_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True)
        )
        batch_op.drop_column("used")
    with op.batch_alter_table("offset_purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )
        batch_op.add_column(
            sa.Column("price_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("offset_purchases", schema=None) as batch_op:
        batch_op.drop_column("price_id")
        batch_op.drop_column("product_id")
    with op.batch_alter_table("offset_quotes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("used", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.drop_column("return_url")
        batch_op.drop_column("payment_method")
        batch_op.drop_column("fixed_total")
        batch_op.drop_column("price_id")
        batch_op.drop_column("product_id")
    with op.batch_alter_table("offset_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_offset_prices_product_currency")
    op.drop_table("offset_prices")
    op.drop_table("offset_products")
