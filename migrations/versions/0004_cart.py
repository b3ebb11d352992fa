"""Tables of the cart context.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "cart"


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "cart_items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "cart_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.carts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("product_variant_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("cart_id", "product_variant_id", name="uq_cart_items_cart_variant"),
        sa.CheckConstraint("quantity > 0", name="ck_cart_items_quantity_positive"),
        schema=SCHEMA,
    )
    op.create_index("ix_cart_items_cart_created", "cart_items", ["cart_id", "created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("cart_items", schema=SCHEMA)
    op.drop_table("carts", schema=SCHEMA)
