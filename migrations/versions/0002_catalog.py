"""Tables of the catalog context.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "catalog"


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("slug", name="uq_brands_slug"),
        schema=SCHEMA,
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("parent_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.categories.id"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(250), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("slug", name="uq_categories_slug"),
        sa.CheckConstraint("sort_order >= 0", name="ck_categories_sort_order"),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_categories_parent_id", "categories", ["parent_id"], schema=SCHEMA)
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("brand_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.brands.id"), nullable=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("slug", sa.String(350), nullable=False),
        sa.Column("description", sa.String(4000), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("slug", name="uq_products_slug"),
        sa.CheckConstraint("status IN ('Draft', 'Active', 'Archived')", name="ck_products_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_products_brand_id", "products", ["brand_id"], schema=SCHEMA)
    op.create_index("ix_catalog_products_status", "products", ["status"], schema=SCHEMA)
    op.create_table(
        "product_categories",
        sa.Column(
            "product_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.products.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("category_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.categories.id"), primary_key=True),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_product_categories_category_id", "product_categories", ["category_id"], schema=SCHEMA)
    op.create_table(
        "product_variants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "product_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.products.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("price_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("sku", name="uq_product_variants_sku"),
        sa.CheckConstraint("price_amount_minor >= 0", name="ck_product_variants_price"),
        sa.CheckConstraint("char_length(currency) = 3", name="ck_product_variants_currency"),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_product_variants_product_id", "product_variants", ["product_id"], schema=SCHEMA)
    op.create_table(
        "product_images",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "product_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.products.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "variant_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.product_variants.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("alt_text", sa.String(300), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_product_images_product_id", "product_images", ["product_id"], schema=SCHEMA)
    op.create_index("ix_catalog_product_images_variant_id", "product_images", ["variant_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in (
        "product_images",
        "product_variants",
        "product_categories",
        "products",
        "categories",
        "brands",
    ):
        op.drop_table(table, schema=SCHEMA)
