"""Routes of the catalog resource: brands, categories, products and variant snapshots (contract section 2)."""

from uuid import UUID

from fastapi import APIRouter, Response

from api.auth import OPERATOR
from api.deps import Page, Session
from api.errors import responses
from api.paging import paged_responses
from services.catalog.errors import ProductNotFoundError, VariantSnapshotNotFoundError
from services.catalog.schemas import (
    AddProductVariantRequest,
    BrandDto,
    CategoryDto,
    CreateBrandRequest,
    CreateCategoryRequest,
    CreateProductRequest,
    ProductCommandResponse,
    ProductDetailsDto,
    ProductListItemDto,
    ProductVariantCommandResponse,
    ProductVariantSnapshotDto,
)
from services.catalog.store import CatalogStore

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["catalog"], responses=responses(503))


@router.get("/api/brands", responses=paged_responses())
async def list_brands(session: Session, page: Page) -> list[BrandDto]:
    return page.answer(await CatalogStore(session).list_brands(page.request))


@router.post("/api/brands", responses=responses(400, 415), status_code=201, dependencies=[OPERATOR])
async def create_brand(body: CreateBrandRequest, session: Session, response: Response) -> BrandDto:
    brand = await CatalogStore(session).create_brand(body)
    response.headers["Location"] = f"/api/brands/{brand.id}"
    return brand


@router.get("/api/categories", responses=paged_responses())
async def list_categories(session: Session, page: Page) -> list[CategoryDto]:
    return page.answer(await CatalogStore(session).list_categories(page.request))


@router.post("/api/categories", responses=responses(400, 415), status_code=201, dependencies=[OPERATOR])
async def create_category(body: CreateCategoryRequest, session: Session, response: Response) -> CategoryDto:
    category = await CatalogStore(session).create_category(body)
    response.headers["Location"] = f"/api/categories/{category.id}"
    return category


@router.get("/api/products", responses=paged_responses())
async def list_products(session: Session, page: Page) -> list[ProductListItemDto]:
    return page.answer(await CatalogStore(session).list_active_products(page.request))


@router.get("/api/products/variants/{product_variant_id}/snapshot", responses=responses(404))
async def get_variant_snapshot(product_variant_id: UUID, session: Session) -> ProductVariantSnapshotDto:
    snapshot = await CatalogStore(session).get_variant_snapshot(product_variant_id)
    if snapshot is None:
        raise VariantSnapshotNotFoundError(product_variant_id)
    return snapshot


@router.get("/api/products/{product_id}", responses=responses(404))
async def get_product(product_id: UUID, session: Session) -> ProductDetailsDto:
    product = await CatalogStore(session).get_product(product_id)
    if product is None:
        raise ProductNotFoundError(product_id, read=True)
    return product


@router.post("/api/products", responses=responses(400, 415), status_code=201, dependencies=[OPERATOR])
async def create_product(body: CreateProductRequest, session: Session, response: Response) -> ProductCommandResponse:
    product = await CatalogStore(session).create_product(body)
    response.headers["Location"] = f"/api/products/{product.id}"
    return product


@router.post(
    "/api/products/{product_id}/variants",
    responses=responses(400, 404, 415),
    status_code=201,
    dependencies=[OPERATOR],
)
async def add_variant(
    product_id: UUID, body: AddProductVariantRequest, session: Session, response: Response
) -> ProductVariantCommandResponse:
    variant = await CatalogStore(session).add_variant(product_id, body)
    response.headers["Location"] = f"/api/products/{product_id}/variants/{variant.id}"
    return variant


@router.post("/api/products/{product_id}/publish", responses=responses(400, 404), dependencies=[OPERATOR])
async def publish_product(product_id: UUID, session: Session) -> ProductCommandResponse:
    return await CatalogStore(session).publish_product(product_id)


@router.post("/api/products/{product_id}/archive", responses=responses(400, 404), dependencies=[OPERATOR])
async def archive_product(product_id: UUID, session: Session) -> ProductCommandResponse:
    return await CatalogStore(session).archive_product(product_id)
