"""Request and response bodies of the catalog context (contract sections 2.2 and 2.3).

Request fields all have defaults: a missing field reaches the store's check and gets the contract's code.
"""

from uuid import UUID

from services.catalog.models import ProductStatus
from services.schemas import RequestModel, WireModel

# ---- requests ----


class CreateBrandRequest(RequestModel):
    name: str | None = None
    slug: str | None = None


class CreateCategoryRequest(RequestModel):
    parent_id: UUID | None = None
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    sort_order: int = 0


class CreateProductRequest(RequestModel):
    brand_id: UUID | None = None
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    category_ids: list[UUID] | None = None


class AddProductVariantRequest(RequestModel):
    sku: str | None = None
    name: str | None = None
    price_amount_minor: int = 0
    currency: str | None = None


# ---- responses ----


class BrandDto(WireModel):
    id: UUID
    name: str
    slug: str


class CategoryDto(WireModel):
    id: UUID
    parent_id: UUID | None
    name: str
    slug: str
    description: str | None
    is_active: bool
    sort_order: int


class ProductCommandResponse(WireModel):
    id: UUID
    name: str
    slug: str
    status: ProductStatus


class ProductVariantCommandResponse(WireModel):
    id: UUID
    product_id: UUID
    sku: str
    name: str
    price_amount_minor: int
    currency: str
    is_active: bool


class ProductVariantListItemDto(WireModel):
    id: UUID
    sku: str
    name: str
    price_amount_minor: int
    currency: str
    is_active: bool


class ProductListItemDto(WireModel):
    id: UUID
    name: str
    slug: str
    brand_name: str | None
    status: ProductStatus
    primary_image_url: str | None
    categories: list[str]
    variants: list[ProductVariantListItemDto]


class ProductBrandDto(WireModel):
    id: UUID
    name: str
    slug: str


class ProductCategoryDto(WireModel):
    id: UUID
    name: str
    slug: str


class ProductImageDto(WireModel):
    id: UUID
    url: str
    alt_text: str | None
    sort_order: int
    is_primary: bool
    variant_id: UUID | None


class ProductDetailsDto(WireModel):
    id: UUID
    name: str
    slug: str
    description: str | None
    brand: ProductBrandDto | None
    status: ProductStatus
    categories: list[ProductCategoryDto]
    variants: list[ProductVariantListItemDto]
    images: list[ProductImageDto]


class ProductVariantSnapshotDto(WireModel):
    """What Ordering trusts about a variant when it prices an order line."""

    product_id: UUID
    product_variant_id: UUID
    sku: str
    product_name: str
    variant_name: str
    price_amount_minor: int
    currency: str
