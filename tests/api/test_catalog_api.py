"""The catalog over HTTP, as the seed's clients see it (contract section 2)."""

import uuid
from typing import Any

import httpx
import pytest

from stack.settings import Settings
from tests.conftest import open_api
from tests.http import created, error_code, ok

ZERO = "00000000-0000-0000-0000-000000000000"

# The seed smoke scripts' default variant (contract section 13, item 10), typed out on purpose: the demo catalog
# test below pins services/catalog/demo.py to it.
ARM_BLK = "9572fb9d-f059-401e-9041-7fc75f8cb414"

Json = dict[str, Any]


async def _post(api: httpx.AsyncClient, path: str, body: Json) -> Json:
    body_created: Json = ok(await api.post(path, json=body), 201)
    return body_created


async def _draft(api: httpx.AsyncClient, slug: str = "desk-lamp", **extra: Any) -> str:
    body = {"name": slug.replace("-", " ").title(), "slug": slug, "categoryIds": [], **extra}
    product_id: str = (await _post(api, "/api/products", body))["id"]
    return product_id


async def _variant(api: httpx.AsyncClient, product_id: str, sku: str = "LAMP-BLK", price: int = 6900) -> Json:
    body = {"sku": sku, "name": "Black", "priceAmountMinor": price, "currency": "usd"}
    return await _post(api, f"/api/products/{product_id}/variants", body)


async def _active(api: httpx.AsyncClient, slug: str = "desk-lamp") -> tuple[str, Json]:
    product_id = await _draft(api, slug)
    variant = await _variant(api, product_id, sku=f"{slug}-1")
    assert (await api.post(f"/api/products/{product_id}/publish")).status_code == 200
    return product_id, variant


async def test_create_and_list_brands(api: httpx.AsyncClient) -> None:
    brand = created(await api.post("/api/brands", json={"name": " Zeta ", "slug": "ZETA"}), "/api/brands")
    assert brand == {"id": brand["id"], "name": "Zeta", "slug": "zeta"}
    await api.post("/api/brands", json={"name": "Acme", "slug": "acme"})

    listed = await api.get("/api/brands")
    assert listed.status_code == 200
    assert [b["name"] for b in listed.json()] == ["Acme", "Zeta"]


async def test_create_and_list_categories_emitting_nulls(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/categories", json={"name": "Office", "slug": "office", "sortOrder": "3"})
    office = created(response, "/api/categories")
    assert office == {
        "id": office["id"],
        "parentId": None,
        "name": "Office",
        "slug": "office",
        "description": None,
        "isActive": True,
        "sortOrder": 3,
    }
    desks = await _post(api, "/api/categories", {"parentId": office["id"], "name": "Desks", "slug": "desks"})
    assert desks["parentId"] == office["id"]

    listed = (await api.get("/api/categories")).json()
    assert [(c["slug"], c["sortOrder"]) for c in listed] == [("desks", 0), ("office", 3)]


async def test_product_lifecycle_over_http(api: httpx.AsyncClient) -> None:
    brand = await _post(api, "/api/brands", {"name": "Acme", "slug": "acme"})
    category = await _post(api, "/api/categories", {"name": "Lighting", "slug": "lighting", "sortOrder": 1})
    response = await api.post(
        "/api/products",
        json={"brandId": brand["id"], "name": "Desk Lamp", "slug": "Desk-Lamp", "categoryIds": [category["id"]]},
    )
    product = created(response, "/api/products")
    product_id = product["id"]
    assert product == {"id": product_id, "name": "Desk Lamp", "slug": "desk-lamp", "status": "Draft"}

    assert (await api.get("/api/products")).json() == []  # drafts are not listed

    added = await api.post(
        f"/api/products/{product_id}/variants",
        json={"sku": "lamp-blk", "name": "Black", "priceAmountMinor": "6900", "currency": "usd"},
    )
    variant = created(added, f"/api/products/{product_id}/variants")
    assert variant == {
        "id": variant["id"],
        "productId": product_id,
        "sku": "LAMP-BLK",
        "name": "Black",
        "priceAmountMinor": 6900,
        "currency": "USD",
        "isActive": True,
    }
    snapshot_url = f"/api/products/variants/{variant['id']}/snapshot"
    assert error_code(await api.get(snapshot_url)) == "product_variant_snapshot_not_found"

    published = await api.post(f"/api/products/{product_id}/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "Active"

    listed = (await api.get("/api/products")).json()
    assert listed == [
        {
            "id": product_id,
            "name": "Desk Lamp",
            "slug": "desk-lamp",
            "brandName": "Acme",
            "status": "Active",
            "primaryImageUrl": None,
            "categories": ["Lighting"],
            "variants": [{k: v for k, v in variant.items() if k != "productId"}],
        }
    ]
    details = await api.get(f"/api/products/{product_id}")
    assert details.status_code == 200
    assert details.json() == {
        "id": product_id,
        "name": "Desk Lamp",
        "slug": "desk-lamp",
        "description": None,
        "brand": brand,
        "status": "Active",
        "categories": [{"id": category["id"], "name": "Lighting", "slug": "lighting"}],
        "variants": listed[0]["variants"],
        "images": [],
    }
    snapshot = await api.get(snapshot_url)
    assert snapshot.status_code == 200
    assert snapshot.json() == {
        "productId": product_id,
        "productVariantId": variant["id"],
        "sku": "LAMP-BLK",
        "productName": "Desk Lamp",
        "variantName": "Black",
        "priceAmountMinor": 6900,
        "currency": "USD",
    }

    archived = await api.post(f"/api/products/{product_id}/archive")
    assert archived.status_code == 200
    assert archived.json()["status"] == "Archived"
    assert (await api.get("/api/products")).json() == []
    assert (await api.get(f"/api/products/{product_id}")).json()["status"] == "Archived"
    missing = await api.get(snapshot_url)
    assert missing.status_code == 404
    assert error_code(missing) == "product_variant_snapshot_not_found"


@pytest.mark.parametrize(
    "send",
    [
        {},
        {"content": b"null", "headers": {"content-type": "application/json"}},
        {"json": {}},
        {"content": b"", "headers": {"content-type": "application/json"}},
    ],
    ids=["no-body", "null", "empty-object", "empty-json"],
)
async def test_publish_and_archive_take_any_empty_body_and_repeat_as_no_ops(api: httpx.AsyncClient, send: Json) -> None:
    product_id = await _draft(api)
    await _variant(api, product_id)
    for action, status in [
        ("publish", "Active"),
        ("publish", "Active"),
        ("archive", "Archived"),
        ("archive", "Archived"),
    ]:
        response = await api.post(f"/api/products/{product_id}/{action}", **send)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status


async def test_unknown_ids(api: httpx.AsyncClient) -> None:
    unknown = str(uuid.uuid4())
    details = await api.get(f"/api/products/{unknown}")
    assert details.status_code == 404
    assert error_code(details) == "product_not_found"
    for path in ("publish", "archive"):
        response = await api.post(f"/api/products/{unknown}/{path}")
        assert response.status_code == 400
        assert error_code(response) == "product_not_found"
    response = await api.post(f"/api/products/{unknown}/variants", json={"sku": "X"})
    assert (response.status_code, error_code(response)) == (400, "product_not_found")
    snapshot = await api.get(f"/api/products/variants/{unknown}/snapshot")
    assert (snapshot.status_code, error_code(snapshot)) == (404, "product_variant_snapshot_not_found")
    for path in ("/api/products/not-a-guid", "/api/products/variants/not-a-guid/snapshot"):
        assert (await api.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "brand_name_required"),
        ({"name": "   ", "slug": ""}, "brand_name_required"),
        ({"name": "Acme"}, "brand_slug_required"),
        ({"name": "Acme", "slug": "  "}, "brand_slug_required"),
        ({"name": "Other", "slug": "TAKEN"}, "brand_slug_already_exists"),
        ({"name": "A" * 201, "slug": "long"}, "brand_name_too_long"),
        ({"name": "Acme", "slug": "s" * 251}, "brand_slug_too_long"),
        ({"name": "Ac\u0000me", "slug": "nul"}, "brand_name_invalid"),
        ({"name": 5, "slug": "x"}, "invalid_request"),
    ],
)
async def test_create_brand_refusals(api: httpx.AsyncClient, body: Json, code: str) -> None:
    await _post(api, "/api/brands", {"name": "Taken", "slug": "taken"})
    response = await api.post("/api/brands", json=body)
    assert (response.status_code, error_code(response)) == (400, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"slug": "x", "sortOrder": -1}, "category_name_required"),
        ({"name": "X", "sortOrder": -1}, "category_slug_required"),
        ({"name": "X", "slug": "taken", "sortOrder": -1}, "category_sort_order_invalid"),
        ({"name": "X", "slug": "x", "sortOrder": 2**31}, "category_sort_order_invalid"),
        ({"name": "X", "slug": "taken", "parentId": ZERO}, "category_slug_already_exists"),
        ({"name": "X", "slug": "x", "parentId": ZERO}, "parent_category_not_found"),
        ({"name": "X", "slug": "x", "description": "d" * 2001}, "category_description_too_long"),
        ({"name": "X", "slug": "x", "parentId": "nope"}, "invalid_request"),
        ({"name": "X", "slug": "x", "sortOrder": 1.5}, "invalid_request"),
    ],
)
async def test_create_category_refusals(api: httpx.AsyncClient, body: Json, code: str) -> None:
    await _post(api, "/api/categories", {"name": "Taken", "slug": "taken"})
    response = await api.post("/api/categories", json=body)
    assert (response.status_code, error_code(response)) == (400, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"slug": "x", "brandId": ZERO}, "product_name_required"),
        ({"name": "X", "brandId": ZERO}, "product_slug_required"),
        ({"name": "X", "slug": "Taken", "brandId": ZERO}, "product_slug_already_exists"),
        ({"name": "X", "slug": "x", "brandId": ZERO, "categoryIds": [ZERO]}, "brand_not_found"),
        ({"name": "X", "slug": "x", "categoryIds": [ZERO]}, "category_not_found"),
        ({"name": "X" * 301, "slug": "x"}, "product_name_too_long"),
        ({"name": "X", "slug": "x" * 351}, "product_slug_too_long"),
        ({"name": "X", "slug": "x", "description": "d" * 4001}, "product_description_too_long"),
        ({"name": "X", "slug": "x", "categoryIds": ["nope"]}, "invalid_request"),
    ],
)
async def test_create_product_refusals(api: httpx.AsyncClient, body: Json, code: str) -> None:
    await _draft(api, "taken")
    response = await api.post("/api/products", json=body)
    assert (response.status_code, error_code(response)) == (400, code)


async def test_create_product_accepts_missing_or_null_category_ids(api: httpx.AsyncClient) -> None:
    for slug, extra in [("no-field", {}), ("null-field", {"categoryIds": None})]:
        response = await api.post("/api/products", json={"name": "X", "slug": slug, **extra})
        assert response.status_code == 201, response.text
        details = (await api.get(f"/api/products/{response.json()['id']}")).json()
        assert details["categories"] == [] and details["brand"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "N", "priceAmountMinor": -1, "currency": "x"}, "sku_required"),
        ({"sku": "S", "priceAmountMinor": -1, "currency": "x"}, "variant_name_required"),
        ({"sku": "S", "name": "N", "priceAmountMinor": -1, "currency": "x"}, "price_invalid"),
        ({"sku": "S", "name": "N", "priceAmountMinor": 2**63, "currency": "USD"}, "price_invalid"),
        ({"sku": "S", "name": "N", "priceAmountMinor": 1}, "currency_invalid"),
        ({"sku": "S", "name": "N", "priceAmountMinor": 1, "currency": " US "}, "currency_invalid"),
        ({"sku": "taken-1", "name": "N", "priceAmountMinor": 1, "currency": "USD"}, "sku_already_exists"),
        ({"sku": "S" * 101, "name": "N", "priceAmountMinor": 1, "currency": "USD"}, "sku_too_long"),
        ({"sku": "S", "name": "N" * 301, "priceAmountMinor": 1, "currency": "USD"}, "variant_name_too_long"),
        ({"sku": "S", "name": "N", "priceAmountMinor": 1.5, "currency": "USD"}, "invalid_request"),
        ({"sku": "S", "name": "N", "priceAmountMinor": None, "currency": "USD"}, "invalid_request"),
    ],
)
async def test_add_variant_refusals(api: httpx.AsyncClient, body: Json, code: str) -> None:
    product_id, _ = await _active(api, "taken")
    response = await api.post(f"/api/products/{product_id}/variants", json=body)
    assert (response.status_code, error_code(response)) == (400, code)


async def test_add_variant_checks_the_product_before_the_body(api: httpx.AsyncClient) -> None:
    product_id = await _draft(api)
    await api.post(f"/api/products/{product_id}/archive")
    response = await api.post(f"/api/products/{product_id}/variants", json={})
    assert (response.status_code, error_code(response)) == (400, "product_archived")


async def test_add_variant_allows_a_zero_price_and_odd_three_letter_currencies(api: httpx.AsyncClient) -> None:
    product_id = await _draft(api)
    body = {"sku": "free", "name": "Sample", "priceAmountMinor": 0, "currency": " us1 "}
    variant = await _post(api, f"/api/products/{product_id}/variants", body)
    assert (variant["priceAmountMinor"], variant["currency"]) == (0, "US1")


@pytest.mark.parametrize(
    ("state", "action", "code"),
    [
        ("draft-without-variant", "publish", "product_has_no_active_variants"),
        ("archived", "publish", "product_archived"),
        ("unknown", "publish", "product_not_found"),
        ("unknown", "archive", "product_not_found"),
    ],
)
async def test_publish_and_archive_refusals(api: httpx.AsyncClient, state: str, action: str, code: str) -> None:
    product_id = str(uuid.uuid4())
    if state != "unknown":
        product_id = await _draft(api)
    if state == "archived":
        await _variant(api, product_id)
        await api.post(f"/api/products/{product_id}/archive")
    response = await api.post(f"/api/products/{product_id}/{action}")
    assert (response.status_code, error_code(response)) == (400, code)


@pytest.mark.parametrize("state", ["unknown", "draft", "archived"])
async def test_snapshot_refusals(api: httpx.AsyncClient, state: str) -> None:
    variant_id = str(uuid.uuid4())
    if state != "unknown":
        product_id = await _draft(api)
        variant_id = (await _variant(api, product_id))["id"]
        if state == "archived":
            await api.post(f"/api/products/{product_id}/publish")
            await api.post(f"/api/products/{product_id}/archive")
    response = await api.get(f"/api/products/variants/{variant_id}/snapshot")
    assert (response.status_code, error_code(response)) == (404, "product_variant_snapshot_not_found")


async def test_demo_catalog_serves_the_smoke_scripts_default_variant(settings: Settings) -> None:
    settings.seed_demo_data = True
    async for api in open_api(settings):
        snapshot = await api.get(f"/api/products/variants/{ARM_BLK}/snapshot")
        listed = (await api.get("/api/products")).json()
        brands = (await api.get("/api/brands")).json()
        categories = (await api.get("/api/categories")).json()
    assert snapshot.status_code == 200
    assert snapshot.json() == {
        "productId": "30000000-0000-0000-0000-000000000007",
        "productVariantId": ARM_BLK,
        "sku": "ARM-BLK",
        "productName": "Monitor Arm",
        "variantName": "Black",
        "priceAmountMinor": 6900,
        "currency": "USD",
    }
    assert [p["name"] for p in listed] == [
        "Mechanical Keyboard",
        "Monitor Arm",
        "Paperback Notebook",
        "Portable Monitor",
        "Technical Backpack",
        "USB-C Docking Station",
        "Wireless Headphones",
    ]
    arm = next(p for p in listed if p["slug"] == "monitor-arm")
    assert arm["primaryImageUrl"] == "/images/catalog/monitor-arm.png"
    assert arm["categories"] == ["Accessories"]
    assert [b["id"] for b in brands] == [
        "10000000-0000-0000-0000-000000000001",
        "10000000-0000-0000-0000-000000000002",
    ]
    assert [c["slug"] for c in categories] == ["electronics", "home-office", "books", "accessories"]
