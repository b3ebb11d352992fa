"""The contract's demo catalog (section 2.5), loaded when the catalog is empty.

Besides the seed's six products it holds "Monitor Arm" with variant `9572fb9d-...` / `ARM-BLK`, the default
variant of the seed's smoke scripts and `.http` files (contract section 13, item 10).
"""

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import (
    Brand,
    Category,
    Product,
    ProductImage,
    ProductStatus,
    ProductVariant,
    product_categories,
)
from services.schemas import utcnow

CURRENCY = "USD"

CORELINE = UUID("10000000-0000-0000-0000-000000000001")
PAPERTRAIL = UUID("10000000-0000-0000-0000-000000000002")
BRANDS: list[tuple[UUID, str, str]] = [
    (CORELINE, "Coreline", "coreline"),
    (PAPERTRAIL, "Papertrail", "papertrail"),
]

ELECTRONICS = UUID("20000000-0000-0000-0000-000000000001")
HOME_OFFICE = UUID("20000000-0000-0000-0000-000000000002")
BOOKS = UUID("20000000-0000-0000-0000-000000000003")
ACCESSORIES = UUID("20000000-0000-0000-0000-000000000004")
CATEGORIES: list[tuple[UUID, str, str, int]] = [
    (ELECTRONICS, "Electronics", "electronics", 1),
    (HOME_OFFICE, "Home Office", "home-office", 2),
    (BOOKS, "Books", "books", 3),
    (ACCESSORIES, "Accessories", "accessories", 4),
]

MONITOR_ARM_VARIANT = UUID("9572fb9d-f059-401e-9041-7fc75f8cb414")


@dataclass(frozen=True)
class DemoVariant:
    id: UUID
    sku: str
    name: str
    price_amount_minor: int


@dataclass(frozen=True)
class DemoProduct:
    id: UUID
    name: str
    slug: str
    brand_id: UUID
    category_ids: tuple[UUID, ...]
    description: str
    image_id: UUID
    variants: tuple[DemoVariant, ...]


def _product_id(n: int) -> UUID:
    return UUID(f"30000000-0000-0000-0000-{n:012d}")


def _variant_id(n: int) -> UUID:
    return UUID(f"40000000-0000-0000-0000-{n:012d}")


def _image_id(n: int) -> UUID:
    return UUID(f"50000000-0000-0000-0000-{n:012d}")


PRODUCTS: list[DemoProduct] = [
    DemoProduct(
        _product_id(1),
        "Wireless Headphones",
        "wireless-headphones",
        CORELINE,
        (ELECTRONICS, ACCESSORIES),
        "Over-ear wireless headphones with active noise cancelling.",
        _image_id(1),
        (
            DemoVariant(_variant_id(1), "WH-BLK", "Black", 12900),
            DemoVariant(_variant_id(2), "WH-WHT", "White", 12900),
        ),
    ),
    DemoProduct(
        _product_id(2),
        "Mechanical Keyboard",
        "mechanical-keyboard",
        CORELINE,
        (ELECTRONICS, HOME_OFFICE),
        "Full-size mechanical keyboard with hot-swappable switches.",
        _image_id(2),
        (
            DemoVariant(_variant_id(3), "KEY-US-BLK", "US Layout / Black", 9900),
            DemoVariant(_variant_id(4), "KEY-EU-GRY", "EU Layout / Gray", 9900),
        ),
    ),
    DemoProduct(
        _product_id(3),
        "USB-C Docking Station",
        "usb-c-docking-station",
        CORELINE,
        (ELECTRONICS, HOME_OFFICE),
        "One USB-C cable for displays, network, storage and power.",
        _image_id(3),
        (DemoVariant(_variant_id(5), "DOCK-8IN1", "8-in-1", 7900),),
    ),
    DemoProduct(
        _product_id(4),
        "Portable Monitor",
        "portable-monitor",
        CORELINE,
        (ELECTRONICS, HOME_OFFICE),
        "A slim second screen powered over USB-C.",
        _image_id(4),
        (
            DemoVariant(_variant_id(6), "PMON-156-FHD", "15.6 inch / FHD", 18900),
            DemoVariant(_variant_id(7), "PMON-156-4K", "15.6 inch / 4K", 32900),
        ),
    ),
    DemoProduct(
        _product_id(5),
        "Technical Backpack",
        "technical-backpack",
        CORELINE,
        (ACCESSORIES,),
        "Water-resistant backpack with a padded laptop sleeve.",
        _image_id(5),
        (
            DemoVariant(_variant_id(8), "BAG-20L-BLK", "20L / Black", 8900),
            DemoVariant(_variant_id(9), "BAG-25L-GRY", "25L / Gray", 10900),
        ),
    ),
    DemoProduct(
        _product_id(6),
        "Paperback Notebook",
        "paperback-notebook",
        PAPERTRAIL,
        (BOOKS, HOME_OFFICE),
        "Dotted-grid notebook with a soft cover.",
        _image_id(6),
        (
            DemoVariant(_variant_id(10), "NOTE-A5", "A5", 1200),
            DemoVariant(_variant_id(11), "NOTE-A4", "A4", 1800),
        ),
    ),
    DemoProduct(
        _product_id(7),
        "Monitor Arm",
        "monitor-arm",
        CORELINE,
        (ACCESSORIES,),
        "Gas-spring arm for one monitor up to 32 inches.",
        _image_id(7),
        (DemoVariant(MONITOR_ARM_VARIANT, "ARM-BLK", "Black", 6900),),
    ),
]


async def load_demo_data(session: AsyncSession) -> bool:
    """Insert the demo catalog if no product exists; returns whether anything was inserted."""
    if await session.scalar(select(exists().select_from(Product))):
        return False
    now = utcnow()
    # Brands and categories may exist without any product: reuse them (by id or slug) instead of clashing.
    brand_ids = await _existing(session, Brand, [(id_, slug) for id_, _, slug in BRANDS])
    category_ids = await _existing(session, Category, [(id_, slug) for id_, _, slug, _ in CATEGORIES])
    session.add_all(
        Brand(id=id_, name=name, slug=slug, created_at=now) for id_, name, slug in BRANDS if id_ not in brand_ids
    )
    session.add_all(
        Category(
            id=id_,
            parent_id=None,
            name=name,
            slug=slug,
            description=None,
            is_active=True,
            sort_order=sort_order,
            created_at=now,
        )
        for id_, name, slug, sort_order in CATEGORIES
        if id_ not in category_ids
    )
    await session.flush()
    session.add_all(
        Product(
            id=product.id,
            brand_id=brand_ids.get(product.brand_id, product.brand_id),
            name=product.name,
            slug=product.slug,
            description=product.description,
            status=ProductStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        for product in PRODUCTS
    )
    await session.flush()
    session.add_all(
        ProductVariant(
            id=variant.id,
            product_id=product.id,
            sku=variant.sku,
            name=variant.name,
            price_amount_minor=variant.price_amount_minor,
            currency=CURRENCY,
            is_active=True,
            created_at=now,
        )
        for product in PRODUCTS
        for variant in product.variants
    )
    session.add_all(
        ProductImage(
            id=product.image_id,
            product_id=product.id,
            variant_id=None,
            url=f"/images/catalog/{product.slug}.png",
            alt_text=product.name,
            sort_order=1,
            is_primary=True,
        )
        for product in PRODUCTS
    )
    await session.flush()
    await session.execute(
        insert(product_categories),
        [
            {"product_id": product.id, "category_id": category_ids.get(category_id, category_id)}
            for product in PRODUCTS
            for category_id in product.category_ids
        ],
    )
    return True


async def _existing(
    session: AsyncSession, model: type[Brand] | type[Category], wanted: list[tuple[UUID, str]]
) -> dict[UUID, UUID]:
    """Demo id -> id of the row that already holds that id or that slug."""
    rows = (
        await session.execute(
            select(model.id, model.slug).where(
                or_(model.id.in_([id_ for id_, _ in wanted]), model.slug.in_([slug for _, slug in wanted]))
            )
        )
    ).all()
    ids = {row.id for row in rows}
    by_slug = {row.slug: row.id for row in rows}
    found: dict[UUID, UUID] = {}
    for id_, slug in wanted:
        if id_ in ids:
            found[id_] = id_
        elif slug in by_slug:
            found[id_] = by_slug[slug]
    return found
