"""A payment's PaymentIntent at its provider (one row per intent) and the money it moved; processed webhook events.

Revision ID: 0011_provider
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_provider"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "payment"


def upgrade() -> None:
    op.add_column("payments", sa.Column("provider_id", sa.String(255), nullable=True), schema=SCHEMA)
    for column in ("authorized_minor", "captured_minor", "refunded_minor"):
        op.add_column("payments", sa.Column(column, sa.BigInteger(), nullable=False, server_default="0"), schema=SCHEMA)
    op.create_unique_constraint("uq_payments_provider_id", "payments", ["provider_id"], schema=SCHEMA)
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("webhook_events", schema=SCHEMA)
    op.drop_constraint("uq_payments_provider_id", "payments", schema=SCHEMA)
    for column in ("refunded_minor", "captured_minor", "authorized_minor", "provider_id"):
        op.drop_column("payments", column, schema=SCHEMA)
