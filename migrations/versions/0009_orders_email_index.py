"""An index of orders by email and status: an email's orders awaiting payment are counted before each placement.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ordering"


def upgrade() -> None:
    op.create_index("ix_orders_email_status", "orders", [sa.text("lower(customer_email)"), "status"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_orders_email_status", table_name="orders", schema=SCHEMA)
