"""Tables owned by the catalog context, all in the `catalog` PostgreSQL schema."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.validation import CURRENCY_LENGTH

SCHEMA = "catalog"

BRAND_NAME_MAX = 200
BRAND_SLUG_MAX = 250
CATEGORY_NAME_MAX = 200
CATEGORY_SLUG_MAX = 250
CATEGORY_DESCRIPTION_MAX = 2000
PRODUCT_NAME_MAX = 300
PRODUCT_SLUG_MAX = 350
PRODUCT_DESCRIPTION_MAX = 4000
SKU_MAX = 100
VARIANT_NAME_MAX = 300

IMAGE_URL_MAX = 1000
IMAGE_ALT_TEXT_MAX = 300


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class ProductStatus(StrEnum):
    """Product lifecycle (contract section 2.4); the value is what the wire and the table carry."""

    DRAFT = "Draft"
    ACTIVE = "Active"
    ARCHIVED = "Archived"


class Brand(Base):
    __tablename__ = "brands"
    __table_args__ = (UniqueConstraint("slug", name="uq_brands_slug"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(BRAND_NAME_MAX))
    slug: Mapped[str] = mapped_column(String(BRAND_SLUG_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_categories_slug"),
        CheckConstraint("sort_order >= 0", name="ck_categories_sort_order"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(f"{SCHEMA}.categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(CATEGORY_NAME_MAX))
    slug: Mapped[str] = mapped_column(String(CATEGORY_SLUG_MAX))
    description: Mapped[str | None] = mapped_column(String(CATEGORY_DESCRIPTION_MAX))
    is_active: Mapped[bool] = mapped_column(Boolean)
    sort_order: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


product_categories = Table(
    "product_categories",
    Base.metadata,
    Column("product_id", ForeignKey(f"{SCHEMA}.products.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey(f"{SCHEMA}.categories.id"), primary_key=True, index=True),
)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_products_slug"),
        CheckConstraint("status IN ('Draft', 'Active', 'Archived')", name="ck_products_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    brand_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(f"{SCHEMA}.brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(PRODUCT_NAME_MAX))
    slug: Mapped[str] = mapped_column(String(PRODUCT_SLUG_MAX))
    description: Mapped[str | None] = mapped_column(String(PRODUCT_DESCRIPTION_MAX))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    brand: Mapped[Brand | None] = relationship(lazy="raise")
    categories: Mapped[list[Category]] = relationship(
        secondary=product_categories,
        order_by=(Category.sort_order, Category.name, Category.id),
        lazy="raise",
    )
    variants: Mapped[list["ProductVariant"]] = relationship(
        order_by="ProductVariant.sku", lazy="raise", back_populates="product"
    )
    images: Mapped[list["ProductImage"]] = relationship(
        order_by="(ProductImage.sort_order, ProductImage.id)", lazy="raise"
    )


class ProductVariant(Base):
    __tablename__ = "product_variants"
    __table_args__ = (
        UniqueConstraint("sku", name="uq_product_variants_sku"),
        CheckConstraint("price_amount_minor >= 0", name="ck_product_variants_price"),
        CheckConstraint("char_length(currency) = 3", name="ck_product_variants_currency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.products.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(SKU_MAX))
    name: Mapped[str] = mapped_column(String(VARIANT_NAME_MAX))
    price_amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(CURRENCY_LENGTH))
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    product: Mapped[Product] = relationship(lazy="raise", back_populates="variants")


class ProductImage(Base):
    __tablename__ = "product_images"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.products.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{SCHEMA}.product_variants.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(IMAGE_URL_MAX))
    alt_text: Mapped[str | None] = mapped_column(String(IMAGE_ALT_TEXT_MAX))
    sort_order: Mapped[int] = mapped_column(Integer)
    is_primary: Mapped[bool] = mapped_column(Boolean)
