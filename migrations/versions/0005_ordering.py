"""Tables of the ordering context: orders and their lines with product snapshots.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ordering"


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("customer_name", sa.String(300), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("total_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("total_amount_minor >= 0", name="ck_orders_total_non_negative"),
        sa.CheckConstraint(
            "status IN ('Draft', 'PendingPayment', 'Paid', 'Cancelled', 'Shipped', 'Expired')",
            name="ck_orders_status",
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_created_at", "orders", ["created_at"], schema=SCHEMA)
    op.create_table(
        "order_items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("product_variant_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("product_name", sa.String(300), nullable=False),
        sa.Column("variant_name", sa.String(300), nullable=False),
        sa.Column("unit_price_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("line_total_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("inventory_reservation_id", sa.Uuid(), nullable=True, unique=True),
        sa.CheckConstraint("quantity > 0", name="ck_order_items_quantity_positive"),
        sa.CheckConstraint(
            "line_total_amount_minor = unit_price_amount_minor * quantity", name="ck_order_items_line_total"
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_order_items_order_id", "order_items", ["order_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("order_items", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
