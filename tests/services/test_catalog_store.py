"""The catalog store against a real PostgreSQL: lifecycle, uniqueness, snapshots, demo data, races."""

import asyncio
import uuid
from uuid import UUID

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.catalog import demo
from services.catalog.errors import CatalogError, ProductNotFoundError
from services.catalog.models import (
    Brand,
    Category,
    Product,
    ProductImage,
    ProductStatus,
    ProductVariant,
    product_categories,
)
from services.catalog.schemas import (
    AddProductVariantRequest,
    CreateBrandRequest,
    CreateCategoryRequest,
    CreateProductRequest,
    ProductVariantCommandResponse,
    ProductVariantSnapshotDto,
)
from services.catalog.store import CatalogStore
from services.validation import INT32_MAX, INT64_MAX

Maker = async_sessionmaker[AsyncSession]


async def _product(
    sessionmaker: Maker, slug: str = "desk-lamp", *, skus: tuple[str, ...] = (), publish: bool = False
) -> UUID:
    async with sessionmaker.begin() as session:
        store = CatalogStore(session)
        product = await store.create_product(CreateProductRequest(name=slug.title(), slug=slug, category_ids=[]))
        for sku in skus:
            await store.add_variant(
                product.id, AddProductVariantRequest(sku=sku, name=sku, price_amount_minor=1500, currency="usd")
            )
        if publish:
            await store.publish_product(product.id)
        return product.id


async def _add_variant(sessionmaker: Maker, product_id: UUID, sku: str) -> ProductVariantCommandResponse:
    async with sessionmaker.begin() as session:
        return await CatalogStore(session).add_variant(
            product_id, AddProductVariantRequest(sku=sku, name="Black", price_amount_minor=6900, currency="USD")
        )


async def test_brands_are_trimmed_slug_lowercased_and_listed_by_name(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        store = CatalogStore(session)
        zeta = await store.create_brand(CreateBrandRequest(name="  Zeta ", slug=" ZeTa-Works "))
        await store.create_brand(CreateBrandRequest(name="Acme", slug="acme"))
    assert (zeta.name, zeta.slug) == ("Zeta", "zeta-works")
    async with sessionmaker() as session:
        assert [b.name for b in (await CatalogStore(session).list_brands()).items] == ["Acme", "Zeta"]


async def test_a_brand_slug_is_unique_whatever_its_case(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        await CatalogStore(session).create_brand(CreateBrandRequest(name="Acme", slug="acme"))
    with pytest.raises(CatalogError) as refused:
        async with sessionmaker.begin() as session:
            await CatalogStore(session).create_brand(CreateBrandRequest(name="Other", slug="ACME"))
    assert refused.value.code == "brand_slug_already_exists"


async def test_categories_nest_under_an_existing_parent_and_list_by_sort_order(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        store = CatalogStore(session)
        parent = await store.create_category(CreateCategoryRequest(name="Office", slug="office", sort_order=5))
        child = await store.create_category(
            CreateCategoryRequest(parent_id=parent.id, name="Desks", slug="desks", description="  Tables  ")
        )
    assert child.parent_id == parent.id
    assert child.description == "Tables"
    assert child.is_active is True
    async with sessionmaker() as session:
        assert [c.slug for c in (await CatalogStore(session).list_categories()).items] == ["desks", "office"]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (CreateCategoryRequest(name="A", slug="a", sort_order=-1), "category_sort_order_invalid"),
        (CreateCategoryRequest(name="A", slug="a", sort_order=INT32_MAX + 1), "category_sort_order_invalid"),
        (CreateCategoryRequest(name="A", slug="a", parent_id=uuid.uuid4()), "parent_category_not_found"),
        (CreateCategoryRequest(name="A" * 201, slug="a"), "category_name_too_long"),
        (CreateCategoryRequest(name="A", slug="a", description="d" * 2001), "category_description_too_long"),
    ],
)
async def test_category_refusals(sessionmaker: Maker, request_: CreateCategoryRequest, code: str) -> None:
    with pytest.raises(CatalogError) as refused:
        async with sessionmaker.begin() as session:
            await CatalogStore(session).create_category(request_)
    assert refused.value.code == code


async def test_product_lifecycle_draft_active_archived(sessionmaker: Maker) -> None:
    product_id = await _product(sessionmaker)

    with pytest.raises(CatalogError) as no_variant:
        async with sessionmaker.begin() as session:
            await CatalogStore(session).publish_product(product_id)
    assert no_variant.value.code == "product_has_no_active_variants"

    await _add_variant(sessionmaker, product_id, "lamp-blk")
    for _ in range(2):  # publishing an Active product again is a no-op
        async with sessionmaker.begin() as session:
            published = await CatalogStore(session).publish_product(product_id)
        assert published.status == ProductStatus.ACTIVE
    for _ in range(2):  # archiving is idempotent
        async with sessionmaker.begin() as session:
            archived = await CatalogStore(session).archive_product(product_id)
        assert archived.status == ProductStatus.ARCHIVED

    for command in ("publish", "add_variant"):
        with pytest.raises(CatalogError) as refused:
            async with sessionmaker.begin() as session:
                store = CatalogStore(session)
                if command == "publish":
                    await store.publish_product(product_id)
                else:
                    await store.add_variant(product_id, AddProductVariantRequest(sku="X"))
        assert refused.value.code == "product_archived"


async def test_a_draft_product_can_be_archived(sessionmaker: Maker) -> None:
    product_id = await _product(sessionmaker)
    async with sessionmaker.begin() as session:
        assert (await CatalogStore(session).archive_product(product_id)).status == "Archived"


async def test_commands_on_an_unknown_product_are_refused_as_not_found(sessionmaker: Maker) -> None:
    unknown = uuid.uuid4()
    async with sessionmaker.begin() as session:
        store = CatalogStore(session)
        for command in (store.publish_product, store.archive_product):
            with pytest.raises(ProductNotFoundError):
                await command(unknown)
        with pytest.raises(ProductNotFoundError):
            await store.add_variant(unknown, AddProductVariantRequest())
        assert await store.get_product(unknown) is None


async def test_variant_sku_and_currency_are_upper_cased_and_the_sku_is_globally_unique(
    sessionmaker: Maker,
) -> None:
    first = await _product(sessionmaker, "lamp-a")
    second = await _product(sessionmaker, "lamp-b")
    async with sessionmaker.begin() as session:
        variant = await CatalogStore(session).add_variant(
            first, AddProductVariantRequest(sku=" lamp-1 ", name=" Brass ", price_amount_minor=0, currency=" eur ")
        )
    assert (variant.sku, variant.name, variant.currency, variant.price_amount_minor) == ("LAMP-1", "Brass", "EUR", 0)
    assert variant.is_active is True

    with pytest.raises(CatalogError) as refused:
        await _add_variant(sessionmaker, second, "Lamp-1")
    assert refused.value.code == "sku_already_exists"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (AddProductVariantRequest(name="N", price_amount_minor=1, currency="USD"), "sku_required"),
        (AddProductVariantRequest(sku="S", price_amount_minor=1, currency="USD"), "variant_name_required"),
        (AddProductVariantRequest(sku="S", name="N", price_amount_minor=-1, currency="USD"), "price_invalid"),
        (
            AddProductVariantRequest(sku="S", name="N", price_amount_minor=INT64_MAX + 1, currency="USD"),
            "price_invalid",
        ),
        (AddProductVariantRequest(sku="S", name="N", price_amount_minor=1, currency="US"), "currency_invalid"),
        (AddProductVariantRequest(sku="S", name="N", price_amount_minor=1, currency="USDX"), "currency_invalid"),
        (AddProductVariantRequest(sku="S" * 101, name="N", price_amount_minor=1, currency="USD"), "sku_too_long"),
        (AddProductVariantRequest(sku="S\x00", name="N", price_amount_minor=1, currency="USD"), "sku_invalid"),
    ],
)
async def test_variant_refusals(sessionmaker: Maker, request_: AddProductVariantRequest, code: str) -> None:
    product_id = await _product(sessionmaker)
    with pytest.raises(CatalogError) as refused:
        async with sessionmaker.begin() as session:
            await CatalogStore(session).add_variant(product_id, request_)
    assert refused.value.code == code


async def test_the_largest_int64_price_is_accepted(sessionmaker: Maker) -> None:
    product_id = await _product(sessionmaker)
    async with sessionmaker.begin() as session:
        variant = await CatalogStore(session).add_variant(
            product_id, AddProductVariantRequest(sku="S", name="N", price_amount_minor=INT64_MAX, currency="USD")
        )
    assert variant.price_amount_minor == INT64_MAX


async def test_create_product_checks_brand_and_categories_and_collapses_duplicates(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        store = CatalogStore(session)
        brand = await store.create_brand(CreateBrandRequest(name="Acme", slug="acme"))
        late = await store.create_category(CreateCategoryRequest(name="Late", slug="late", sort_order=9))
        early = await store.create_category(CreateCategoryRequest(name="Early", slug="early", sort_order=1))
        created = await store.create_product(
            CreateProductRequest(
                brand_id=brand.id, name=" Lamp ", slug=" LAMP ", category_ids=[late.id, early.id, late.id]
            )
        )
        for request_, code in [
            (CreateProductRequest(name="X", slug="x", brand_id=uuid.UUID(int=0)), "brand_not_found"),
            (CreateProductRequest(name="X", slug="x", category_ids=[early.id, uuid.uuid4()]), "category_not_found"),
            (CreateProductRequest(name="X", slug="lamp", brand_id=uuid.uuid4()), "product_slug_already_exists"),
        ]:
            with pytest.raises(CatalogError) as refused:
                await store.create_product(request_)
            assert refused.value.code == code
    assert (created.name, created.slug, created.status) == ("Lamp", "lamp", "Draft")
    async with sessionmaker() as session:
        details = await CatalogStore(session).get_product(created.id)
    assert details is not None
    assert details.brand is not None and details.brand.slug == "acme"
    assert [c.slug for c in details.categories] == ["early", "late"]
    assert (details.variants, details.images) == ([], [])


async def test_list_shows_active_products_by_name_with_active_variants_by_sku(sessionmaker: Maker) -> None:
    zebra = await _product(sessionmaker, "zebra-lamp", skus=("Z-2", "Z-1", "Z-3"), publish=True)
    await _product(sessionmaker, "alpha-lamp", skus=("A-1",), publish=True)
    await _product(sessionmaker, "draft-lamp", skus=("D-1",))
    archived = await _product(sessionmaker, "archived-lamp", skus=("R-1",), publish=True)
    async with sessionmaker.begin() as session:
        await CatalogStore(session).archive_product(archived)
        # no endpoint deactivates a variant, but the data model allows it
        await session.execute(update(ProductVariant).where(ProductVariant.sku == "Z-3").values(is_active=False))

    async with sessionmaker() as session:
        store = CatalogStore(session)
        listed = (await store.list_active_products()).items
        details = await store.get_product(zebra)
    assert [p.slug for p in listed] == ["alpha-lamp", "zebra-lamp"]
    assert [v.sku for v in listed[1].variants] == ["Z-1", "Z-2"]
    assert listed[1].brand_name is None and listed[1].primary_image_url is None
    assert details is not None
    assert [(v.sku, v.is_active) for v in details.variants] == [("Z-1", True), ("Z-2", True), ("Z-3", False)]


async def test_snapshots_only_for_active_variants_of_active_products(sessionmaker: Maker) -> None:
    draft = await _product(sessionmaker, "draft-lamp", skus=("D-1",))
    active = await _product(sessionmaker, "active-lamp", skus=("A-1", "A-2"), publish=True)
    archived = await _product(sessionmaker, "old-lamp", skus=("O-1",), publish=True)
    async with sessionmaker.begin() as session:
        await CatalogStore(session).archive_product(archived)
        await session.execute(update(ProductVariant).where(ProductVariant.sku == "A-2").values(is_active=False))
        ids = {sku: id_ for sku, id_ in await session.execute(select(ProductVariant.sku, ProductVariant.id))}

    async with sessionmaker() as session:
        store = CatalogStore(session)
        one = await store.get_variant_snapshot(ids["A-1"])
        many = await store.get_variant_snapshots([ids["A-1"], ids["A-2"], ids["D-1"], ids["O-1"], uuid.uuid4()])
        assert await store.get_variant_snapshot(ids["D-1"]) is None
        assert await store.get_variant_snapshot(uuid.uuid4()) is None
        assert await store.get_variant_snapshots([]) == {}
    assert one == ProductVariantSnapshotDto(
        product_id=active,
        product_variant_id=ids["A-1"],
        sku="A-1",
        product_name="Active-Lamp",
        variant_name="A-1",
        price_amount_minor=1500,
        currency="USD",
    )
    assert many == {ids["A-1"]: one}
    assert draft != active


async def _catalog_rows(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for name, table in [
        ("brands", Brand.__table__),
        ("categories", Category.__table__),
        ("products", Product.__table__),
        ("variants", ProductVariant.__table__),
        ("images", ProductImage.__table__),
        ("product_categories", product_categories),
    ]:
        counts[name] = await session.scalar(select(func.count()).select_from(table)) or 0
    return counts


async def test_demo_data_loads_once_with_its_fixed_ids(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        assert await demo.load_demo_data(session) is True
    async with sessionmaker.begin() as session:
        first = await _catalog_rows(session)
        assert await demo.load_demo_data(session) is False
    async with sessionmaker() as session:
        assert await _catalog_rows(session) == first
        store = CatalogStore(session)
        listed = (await store.list_active_products()).items
        arm = await store.get_variant_snapshot(UUID("9572fb9d-f059-401e-9041-7fc75f8cb414"))
        keyboard = await store.get_product(UUID("30000000-0000-0000-0000-000000000002"))

    assert first == {
        "brands": 2,
        "categories": 4,
        "products": 7,
        "variants": 12,
        "images": 7,
        "product_categories": 12,
    }
    assert arm == ProductVariantSnapshotDto(
        product_id=UUID("30000000-0000-0000-0000-000000000007"),
        product_variant_id=UUID("9572fb9d-f059-401e-9041-7fc75f8cb414"),
        sku="ARM-BLK",
        product_name="Monitor Arm",
        variant_name="Black",
        price_amount_minor=6900,
        currency="USD",
    )
    headphones = next(p for p in listed if p.slug == "wireless-headphones")
    assert headphones.primary_image_url == "/images/catalog/wireless-headphones.png"
    assert headphones.categories == ["Electronics", "Accessories"]
    assert headphones.brand_name == "Coreline"
    assert keyboard is not None
    assert [(str(v.id), v.sku) for v in keyboard.variants] == [
        ("40000000-0000-0000-0000-000000000004", "KEY-EU-GRY"),
        ("40000000-0000-0000-0000-000000000003", "KEY-US-BLK"),
    ]
    assert [str(i.id) for i in keyboard.images] == ["50000000-0000-0000-0000-000000000002"]


async def test_demo_data_reuses_a_brand_that_already_holds_a_demo_slug(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        mine = await CatalogStore(session).create_brand(CreateBrandRequest(name="My Coreline", slug="coreline"))
    async with sessionmaker.begin() as session:
        assert await demo.load_demo_data(session) is True
    async with sessionmaker() as session:
        arm = await CatalogStore(session).get_product(UUID("30000000-0000-0000-0000-000000000007"))
    assert arm is not None and arm.brand is not None and arm.brand.id == mine.id


async def test_concurrent_adds_of_one_sku_let_exactly_one_win(sessionmaker: Maker) -> None:
    product_ids = [await _product(sessionmaker, f"lamp-{n}") for n in range(3)]

    async def attempt(n: int) -> ProductVariantCommandResponse | str:
        try:
            return await _add_variant(sessionmaker, product_ids[n % len(product_ids)], "race-1")
        except CatalogError as refused:
            return refused.code

    outcomes = await asyncio.gather(*(attempt(n) for n in range(12)))
    winners = [o for o in outcomes if isinstance(o, ProductVariantCommandResponse)]
    assert len(winners) == 1
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["sku_already_exists"] * 11
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).where(ProductVariant.sku == "RACE-1")) == 1


async def test_concurrent_creates_of_one_slug_let_exactly_one_win(sessionmaker: Maker) -> None:
    async def attempt() -> str:
        try:
            async with sessionmaker.begin() as session:
                await CatalogStore(session).create_product(CreateProductRequest(name="Lamp", slug="lamp"))
            return "created"
        except CatalogError as refused:
            return refused.code

    outcomes = await asyncio.gather(*(attempt() for _ in range(8)))
    assert sorted(outcomes) == ["created"] + ["product_slug_already_exists"] * 7
