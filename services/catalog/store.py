"""The catalog's use cases: brands, categories, products and their variants (contract section 2).

Every command runs its checks in the contract's order (the first failing check wins). Over-long strings,
which the seed only noticed as a database error, are refused after the contract's own checks with
`<field>_too_long`. Unique slugs and SKUs are checked up front for a clear answer and again by the unique
constraints, so two concurrent requests can never both win.
"""

import uuid
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement, Uuid, any_, bindparam, exists, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.catalog import models as m
from services.catalog.errors import (
    WORDING,
    AlreadyExistsError,
    CatalogError,
    ProductArchivedError,
    ProductNotFoundError,
)
from services.catalog.models import Brand, Category, Product, ProductStatus, ProductVariant
from services.catalog.schemas import (
    AddProductVariantRequest,
    BrandDto,
    CategoryDto,
    CreateBrandRequest,
    CreateCategoryRequest,
    CreateProductRequest,
    ProductBrandDto,
    ProductCategoryDto,
    ProductCommandResponse,
    ProductDetailsDto,
    ProductImageDto,
    ProductListItemDto,
    ProductVariantCommandResponse,
    ProductVariantListItemDto,
    ProductVariantSnapshotDto,
)
from services.errors import violated_constraint
from services.paging import FIRST_PAGE, Keyset, PageRequest, PageResult
from services.schemas import utcnow
from services.sql import core_table
from services.validation import (
    INT32_MAX,
    INT64_MAX,
    check_length,
    check_no_nul,
    currency_code,
    invariant_lower,
    invariant_upper,
    required_text,
)

BRANDS = Keyset("brands", Brand.name, Brand.id)
CATEGORIES = Keyset("categories", Category.sort_order, Category.name, Category.id)
ACTIVE_PRODUCTS = Keyset("products", Product.name, Product.id)
ALL_PRODUCTS = Keyset("all-products", Product.name, Product.id)


_PRODUCTS, _VARIANTS = core_table(Product), core_table(ProductVariant)
# Built once, on the tables: plain rows (no ORM objects or compile state), no cache key to compute per call, and
# one array parameter, so the same statement text (and prepared plan) for any number of variants.
_SNAPSHOTS = (
    select(
        _VARIANTS.c.product_id,
        _VARIANTS.c.id.label("product_variant_id"),
        _VARIANTS.c.sku,
        _PRODUCTS.c.name.label("product_name"),
        _VARIANTS.c.name.label("variant_name"),
        _VARIANTS.c.price_amount_minor,
        _VARIANTS.c.currency,
    )
    .join(_PRODUCTS, _PRODUCTS.c.id == _VARIANTS.c.product_id)
    .where(
        _VARIANTS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))),
        _VARIANTS.c.is_active.is_(True),
        _PRODUCTS.c.status == ProductStatus.ACTIVE,
    )
)


class CatalogStore:
    """Reads and commands of the catalog; never commits (the caller's unit of work does)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # ---- brands ----

    async def list_brands(self, page: PageRequest = FIRST_PAGE) -> PageResult[BrandDto]:
        """A page of the brands, ordered by name."""
        rows = await self._session.scalars(BRANDS.apply(select(Brand), page))
        return BRANDS.page([BrandDto.model_validate(row) for row in rows], page)

    async def create_brand(self, request: CreateBrandRequest) -> BrandDto:
        """Create a brand; its slug is lower-cased and must be unused."""
        name = _required(request.name, "brand_name", "Brand name")
        slug = invariant_lower(_required(request.slug, "brand_slug", "Brand slug"))
        if await self._exists(Brand.slug == slug):
            raise _slug_taken("brand", slug)
        _max_length(name, m.BRAND_NAME_MAX, "brand_name", "Brand name")
        _max_length(slug, m.BRAND_SLUG_MAX, "brand_slug", "Brand slug")

        brand = Brand(id=uuid.uuid4(), name=name, slug=slug, created_at=utcnow())
        await self._insert([brand], {"uq_brands_slug": _slug_taken("brand", slug)})
        return BrandDto.model_validate(brand)

    # ---- categories ----

    async def list_categories(self, page: PageRequest = FIRST_PAGE) -> PageResult[CategoryDto]:
        """A page of the categories, ordered by sortOrder, then name."""
        rows = await self._session.scalars(CATEGORIES.apply(select(Category), page))
        return CATEGORIES.page([CategoryDto.model_validate(row) for row in rows], page)

    async def create_category(self, request: CreateCategoryRequest) -> CategoryDto:
        """Create an active category, optionally under an existing parent; its slug must be unused."""
        name = _required(request.name, "category_name", "Category name")
        slug = invariant_lower(_required(request.slug, "category_slug", "Category slug"))
        if not 0 <= request.sort_order <= INT32_MAX:
            raise CatalogError("category_sort_order_invalid", f"Category sort order must be between 0 and {INT32_MAX}.")
        if await self._exists(Category.slug == slug):
            raise _slug_taken("category", slug)
        if request.parent_id is not None and not await self._exists(Category.id == request.parent_id):
            raise CatalogError("parent_category_not_found", f"Parent category '{request.parent_id}' was not found.")
        description = _optional(request.description, "category_description", "Category description")
        _max_length(name, m.CATEGORY_NAME_MAX, "category_name", "Category name")
        _max_length(slug, m.CATEGORY_SLUG_MAX, "category_slug", "Category slug")
        _max_length(description, m.CATEGORY_DESCRIPTION_MAX, "category_description", "Category description")

        category = Category(
            id=uuid.uuid4(),
            parent_id=request.parent_id,
            name=name,
            slug=slug,
            description=description,
            is_active=True,
            sort_order=request.sort_order,
            created_at=utcnow(),
        )
        await self._insert([category], {"uq_categories_slug": _slug_taken("category", slug)})
        return CategoryDto.model_validate(category)

    # ---- products ----

    async def list_active_products(self, page: PageRequest = FIRST_PAGE) -> PageResult[ProductListItemDto]:
        """A page of the active products ordered by name, each with its active variants ordered by SKU."""
        return await self._list_products(ACTIVE_PRODUCTS, page, active_only=True)

    async def list_products(self, page: PageRequest = FIRST_PAGE) -> PageResult[ProductListItemDto]:
        """A page of every product in any status ordered by name, each with all its variants (for operators)."""
        return await self._list_products(ALL_PRODUCTS, page, active_only=False)

    async def _list_products(
        self, keyset: Keyset, page: PageRequest, *, active_only: bool
    ) -> PageResult[ProductListItemDto]:
        query = select(Product)
        if active_only:
            query = query.where(Product.status == ProductStatus.ACTIVE)
        variants = Product.variants.and_(ProductVariant.is_active) if active_only else Product.variants
        products = await self._session.scalars(
            keyset.apply(query, page).options(
                selectinload(Product.brand),
                selectinload(Product.categories),
                selectinload(variants),
                selectinload(Product.images),
            )
        )
        listed = [
            ProductListItemDto(
                id=product.id,
                name=product.name,
                slug=product.slug,
                brand_name=product.brand.name if product.brand else None,
                status=ProductStatus(product.status),
                primary_image_url=next((image.url for image in product.images if image.is_primary), None),
                categories=[category.name for category in product.categories],
                variants=[ProductVariantListItemDto.model_validate(v) for v in product.variants],
            )
            for product in products
        ]
        return keyset.page(listed, page)

    async def get_product(self, product_id: UUID) -> ProductDetailsDto | None:
        """One product in any status, with all its variants and images; None if unknown."""
        product = await self._session.scalar(
            select(Product)
            .where(Product.id == product_id)
            .options(
                selectinload(Product.brand),
                selectinload(Product.categories),
                selectinload(Product.variants),
                selectinload(Product.images),
            )
            .execution_options(populate_existing=True)
        )
        if product is None:
            return None
        return ProductDetailsDto(
            id=product.id,
            name=product.name,
            slug=product.slug,
            description=product.description,
            brand=ProductBrandDto.model_validate(product.brand) if product.brand else None,
            status=ProductStatus(product.status),
            categories=[ProductCategoryDto.model_validate(c) for c in product.categories],
            variants=[ProductVariantListItemDto.model_validate(v) for v in product.variants],
            images=[ProductImageDto.model_validate(i) for i in product.images],
        )

    async def create_product(self, request: CreateProductRequest) -> ProductCommandResponse:
        """Create a Draft product under an optional brand and any number of existing categories."""
        name = _required(request.name, "product_name", "Product name")
        slug = invariant_lower(_required(request.slug, "product_slug", "Product slug"))
        if await self._exists(Product.slug == slug):
            raise _slug_taken("product", slug)
        if request.brand_id is not None and not await self._exists(Brand.id == request.brand_id):
            raise CatalogError("brand_not_found", f"Brand '{request.brand_id}' was not found.")
        category_ids = list(dict.fromkeys(request.category_ids or []))
        if category_ids:
            found = set(await self._session.scalars(select(Category.id).where(Category.id.in_(category_ids))))
            missing = [str(category_id) for category_id in category_ids if category_id not in found]
            if missing:
                raise CatalogError("category_not_found", f"Category '{missing[0]}' was not found.")
        description = _optional(request.description, "product_description", "Product description")
        _max_length(name, m.PRODUCT_NAME_MAX, "product_name", "Product name")
        _max_length(slug, m.PRODUCT_SLUG_MAX, "product_slug", "Product slug")
        _max_length(description, m.PRODUCT_DESCRIPTION_MAX, "product_description", "Product description")

        now = utcnow()
        product = Product(
            id=uuid.uuid4(),
            brand_id=request.brand_id,
            name=name,
            slug=slug,
            description=description,
            status=ProductStatus.DRAFT,
            created_at=now,
            updated_at=now,
        )
        await self._insert([product], {"uq_products_slug": _slug_taken("product", slug)})
        if category_ids:
            await self._session.execute(
                insert(m.product_categories),
                [{"product_id": product.id, "category_id": category_id} for category_id in category_ids],
            )
        return _command_response(product)

    async def add_variant(self, product_id: UUID, request: AddProductVariantRequest) -> ProductVariantCommandResponse:
        """Add an active variant to a Draft or Active product; its SKU is upper-cased and globally unique."""
        # FOR SHARE: concurrent adds proceed together, but a publish or archive waits for them.
        product = await self._product(product_id, share=True)
        if product.status == ProductStatus.ARCHIVED:
            raise ProductArchivedError(product_id)
        sku = invariant_upper(_required(request.sku, "sku", "SKU"))
        name = _required(request.name, "variant_name", "Variant name")
        if not 0 <= request.price_amount_minor <= INT64_MAX:
            raise CatalogError("price_invalid", "Price must be a non-negative amount in minor units.")
        currency = currency_code(request.currency, WORDING)
        if await self._exists(ProductVariant.sku == sku):
            raise _sku_taken(sku)
        _max_length(sku, m.SKU_MAX, "sku", "SKU")
        _max_length(name, m.VARIANT_NAME_MAX, "variant_name", "Variant name")

        variant = ProductVariant(
            id=uuid.uuid4(),
            product_id=product.id,
            sku=sku,
            name=name,
            price_amount_minor=request.price_amount_minor,
            currency=currency,
            is_active=True,
            created_at=utcnow(),
        )
        await self._insert([variant], {"uq_product_variants_sku": _sku_taken(sku)})
        return ProductVariantCommandResponse.model_validate(variant)

    async def publish_product(self, product_id: UUID) -> ProductCommandResponse:
        """Make a product Active; needs an active variant. Publishing an Active product changes nothing."""
        product = await self._product(product_id, share=False)
        if product.status == ProductStatus.ARCHIVED:
            raise ProductArchivedError(product_id)
        if product.status == ProductStatus.ACTIVE:
            return _command_response(product)
        has_variant = await self._exists(ProductVariant.product_id == product_id, ProductVariant.is_active.is_(True))
        if not has_variant:
            raise CatalogError(
                "product_has_no_active_variants", "A product needs an active variant before it is published."
            )
        product.status = ProductStatus.ACTIVE
        product.updated_at = utcnow()
        await self._session.flush()
        return _command_response(product)

    async def archive_product(self, product_id: UUID) -> ProductCommandResponse:
        """Archive a product from any status; archiving an Archived product changes nothing."""
        product = await self._product(product_id, share=False)
        if product.status != ProductStatus.ARCHIVED:
            product.status = ProductStatus.ARCHIVED
            product.updated_at = utcnow()
            await self._session.flush()
        return _command_response(product)

    # ---- snapshots for ordering ----

    async def get_variant_snapshot(self, variant_id: UUID) -> ProductVariantSnapshotDto | None:
        """The orderable snapshot of one variant; None unless it is active and its product is Active."""
        return (await self.get_variant_snapshots([variant_id])).get(variant_id)

    async def get_variant_snapshots(self, variant_ids: Sequence[UUID]) -> dict[UUID, ProductVariantSnapshotDto]:
        """Snapshots of the orderable variants among `variant_ids`, in one query; the others are absent."""
        ids = list(dict.fromkeys(variant_ids))
        if not ids:
            return {}
        rows = await self._session.execute(_SNAPSHOTS, {"ids": ids})
        return {
            row.product_variant_id: ProductVariantSnapshotDto.model_validate(row, from_attributes=True) for row in rows
        }

    # ---- helpers ----

    async def _product(self, product_id: UUID, *, share: bool) -> Product:
        product = await self._session.scalar(
            select(Product)
            .where(Product.id == product_id)
            .with_for_update(read=share)
            .execution_options(populate_existing=True)
        )
        if product is None:
            raise ProductNotFoundError(product_id)
        return product

    async def _exists(self, *criteria: ColumnElement[bool]) -> bool:
        found = await self._session.scalar(select(exists().where(*criteria)))
        return bool(found)

    async def _insert(self, rows: Sequence[m.Base], conflicts: dict[str, CatalogError]) -> None:
        """Insert in a savepoint; a unique-constraint race becomes the matching domain error."""
        try:
            async with self._session.begin_nested():
                self._session.add_all(rows)
        except IntegrityError as exc:
            error = conflicts.get(violated_constraint(exc) or "")
            if error is None:
                raise
            raise error from exc


def _command_response(product: Product) -> ProductCommandResponse:
    return ProductCommandResponse(
        id=product.id, name=product.name, slug=product.slug, status=ProductStatus(product.status)
    )


def _required(value: str | None, field: str, label: str) -> str:
    """The trimmed value; blank is `<field>_required`, a NUL `<field>_invalid`. Length is checked last of all."""
    return required_text(value, field, label=label, wording=WORDING)


def _optional(value: str | None, field: str, label: str) -> str | None:
    """The trimmed value (blank stays blank, as the seed stores it); a NUL is `<field>_invalid`."""
    if value is None:
        return None
    check_no_nul(value, field, label=label, wording=WORDING)
    return value.strip()


def _max_length(value: str | None, limit: int, field: str, label: str) -> None:
    check_length(value, limit, field, label=label, wording=WORDING)


def _slug_taken(kind: str, slug: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"{kind}_slug_already_exists", f"A {kind} with slug '{slug}' already exists.")


def _sku_taken(sku: str) -> AlreadyExistsError:
    return AlreadyExistsError("sku_already_exists", f"A variant with SKU '{sku}' already exists.")
