"""change history keeps the caller's X-Request-Id apart from the service's request id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:50:00.000000

Until now ``change_history.request_id`` held the caller's ``X-Request-Id`` when it sent a
well-formed one, verbatim. From now on ``request_id`` is always the service's own id for
the request and the caller's id, if any, goes to ``client_request_id``. Existing rows are
left as they are (which of their ids came from a caller is not recorded).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_history", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "client_request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("change_history", schema=None) as batch_op:
        batch_op.drop_column("client_request_id")
