"""Every list endpoint pages by keyset (issue 12 item 4), on real PostgreSQL.

Each list gets rows at chosen positions of its order (a "rank": a name, a sort order or an age), several on the
same position so the unique last column breaks the ties across a page boundary. Walking the `Link: rel="next"`
headers must return every row exactly once in the list's order, whatever is inserted between two page fetches.
Rows go in through the stores (orders as the workflow records them), so no Temporal is needed.
"""

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.order import OrderDetails, OrderStatus
from services.catalog.schemas import (
    AddProductVariantRequest,
    CreateBrandRequest,
    CreateCategoryRequest,
    CreateProductRequest,
)
from services.catalog.store import CatalogStore
from services.fulfillment.models import Shipment
from services.fulfillment.schemas import CreateShipmentRequest
from services.fulfillment.store import FulfillmentStore
from services.inventory.models import StockMovement
from services.inventory.store import InventoryStore
from services.ordering.store import OrderingStore
from services.payment.models import Payment
from services.payment.schemas import CreatePaymentRequest
from services.payment.store import PaymentStore
from services.schemas import utcnow

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]
Json = dict[str, Any]
# Positions of the rows made before the first fetch: pairs share a position (a tie on every column but the last).
RANKS = [100, 100, 101, 101, 102, 102, 103]
NOW = utcnow()


def _age(rank: int) -> datetime:
    """For the newest-first lists: a higher rank is an older row."""
    return NOW - timedelta(seconds=rank)


@dataclass
class Lists:
    """Makes rows of one list; what the filtered lists filter on is made once, with rows the filter leaves out."""

    sessionmaker: Sessions
    warehouse: UUID | None = None
    location: UUID | None = None
    other_warehouse: UUID | None = None
    other_location: UUID | None = None
    ranks: dict[str, int] = field(default_factory=dict)  # id of every row of the list -> its rank

    async def run(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessionmaker.begin() as session:
            return await action(session)

    async def warehouses(self) -> tuple[UUID, UUID]:
        if self.warehouse is None or self.other_warehouse is None:
            store = InventoryStore
            self.warehouse = (await self.run(lambda s: store(s).create_warehouse("MAIN", "Main"))).id
            self.other_warehouse = (await self.run(lambda s: store(s).create_warehouse("OTHER", "Other"))).id
        return self.warehouse, self.other_warehouse

    async def locations(self) -> tuple[UUID, UUID]:
        if self.location is None or self.other_location is None:
            warehouse, other = await self.warehouses()
            self.location = (await self.run(lambda s: InventoryStore(s).create_location(warehouse, "A-01"))).id
            self.other_location = (await self.run(lambda s: InventoryStore(s).create_location(other, "B-01"))).id
        return self.location, self.other_location


Add = Callable[[Lists, int, int], Awaitable[UUID]]


async def _brand(lists: Lists, rank: int, i: int) -> UUID:
    request = CreateBrandRequest(name=f"N{rank:03d}", slug=f"b-{uuid.uuid4()}")
    return (await lists.run(lambda s: CatalogStore(s).create_brand(request))).id


async def _category(lists: Lists, rank: int, i: int) -> UUID:
    request = CreateCategoryRequest(name=f"N{rank:03d}", slug=f"c-{uuid.uuid4()}", sort_order=rank // 10)
    return (await lists.run(lambda s: CatalogStore(s).create_category(request))).id


async def _product(lists: Lists, rank: int, i: int) -> UUID:
    async def make(session: AsyncSession) -> UUID:
        store = CatalogStore(session)
        request = CreateProductRequest(name=f"N{rank:03d}", slug=f"p-{uuid.uuid4()}", category_ids=[])
        product = await store.create_product(request)
        variant = AddProductVariantRequest(sku=f"S-{uuid.uuid4()}", name="One", price_amount_minor=100, currency="USD")
        await store.add_variant(product.id, variant)
        await store.publish_product(product.id)
        # A draft of the same name: not listed (only Active products are).
        await store.create_product(CreateProductRequest(name=f"N{rank:03d}", slug=f"d-{uuid.uuid4()}", category_ids=[]))
        return product.id

    return await lists.run(make)


async def _warehouse(lists: Lists, rank: int, i: int) -> UUID:
    return (await lists.run(lambda s: InventoryStore(s).create_warehouse(f"N{rank:03d}X{i:02d}", "W"))).id


async def _location(lists: Lists, rank: int, i: int) -> UUID:
    warehouse, other = await lists.warehouses()
    await lists.run(lambda s: InventoryStore(s).create_location(other, f"N{rank:03d}X{i:02d}"))  # filtered out
    return (await lists.run(lambda s: InventoryStore(s).create_location(warehouse, f"N{rank:03d}X{i:02d}"))).id


async def _movement(lists: Lists, rank: int, i: int) -> UUID:
    location, other_location = await lists.locations()
    (warehouse, other), reason = await lists.warehouses(), f"move-{uuid.uuid4()}"
    await lists.run(lambda s: InventoryStore(s).receive("OTHER-SKU", other, other_location, 1, None))
    await lists.run(lambda s: InventoryStore(s).receive("PAGED-SKU", warehouse, location, 1, reason))
    moved = update(StockMovement).where(StockMovement.reason == reason).values(created_at=_age(rank))
    return await lists.run(lambda s: _scalar(s, moved.returning(StockMovement.id)))


async def _order(lists: Lists, rank: int, i: int) -> UUID:
    order = OrderDetails(
        id=uuid.uuid4(),
        customer_name="Ada",
        customer_email="ada@example.com",
        status=OrderStatus.PENDING_PAYMENT,
        total_amount_minor=100,
        currency="USD",
        created_at=_age(rank),
        updated_at=_age(rank),
        items=[],
    )
    await lists.run(lambda s: OrderingStore(s).record(order))
    return order.id


async def _payment(lists: Lists, rank: int, i: int) -> UUID:
    request = CreatePaymentRequest(order_id=uuid.uuid4(), amount_minor=100, currency="USD", provider="Manual")
    payment = await lists.run(lambda s: PaymentStore(s).create(request))
    aged = update(Payment).where(Payment.id == payment.id).values(created_at=_age(rank))
    await lists.run(lambda s: s.execute(aged))
    return payment.id


async def _shipment(lists: Lists, rank: int, i: int) -> UUID:
    shipment = await lists.run(lambda s: FulfillmentStore(s).create(CreateShipmentRequest(order_id=uuid.uuid4())))
    aged = update(Shipment).where(Shipment.id == shipment.id).values(created_at=_age(rank))
    await lists.run(lambda s: s.execute(aged))
    return shipment.id


async def _scalar(session: AsyncSession, statement: Any) -> UUID:
    value: UUID = (await session.execute(statement)).scalar_one()
    return value


@dataclass(frozen=True)
class ListCase:
    path: str
    add: Add
    ties_by_id_descending: bool = False
    ties: bool = True  # rows of one rank tie on every column but the id (codes are unique: they never tie)
    filters: Callable[[Lists], dict[str, str]] = lambda lists: {}


LISTS = {
    "brands": ListCase("/api/brands", _brand),
    "categories": ListCase("/api/categories", _category),
    "products": ListCase("/api/products", _product),
    "warehouses": ListCase("/api/warehouses", _warehouse, ties=False),
    "locations": ListCase(
        "/api/locations", _location, ties=False, filters=lambda lists: {"warehouseId": str(lists.warehouse)}
    ),
    "movements": ListCase(
        "/api/stock/movements", _movement, ties_by_id_descending=True, filters=lambda lists: {"sku": "paged-sku"}
    ),
    "orders": ListCase("/api/orders", _order),
    "payments": ListCase("/api/payments", _payment, ties_by_id_descending=True),
    "shipments": ListCase("/api/shipments", _shipment, ties_by_id_descending=True),
}


async def _add(lists: Lists, case: ListCase, rank: int) -> UUID:
    row = await case.add(lists, rank, len(lists.ranks))
    lists.ranks[str(row)] = rank
    return row


def _next(response: httpx.Response, limit: int, filters: dict[str, str]) -> str | None:
    """The `rel="next"` link, after checking it carries the limit and the request's filters."""
    assert response.status_code == 200, response.text
    link = response.links.get("next")
    if link is None:
        assert "link" not in response.headers
        return None
    url = link["url"]
    assert url.startswith(urlsplit(str(response.request.url)).path + "?")
    query = parse_qs(urlsplit(url).query)
    assert query["limit"] == [str(limit)] and len(query["cursor"]) == 1
    assert {key: values for key, values in query.items() if key not in ("limit", "cursor")} == {
        key: [value] for key, value in filters.items()
    }
    return url


def _assert_in_order(lists: Lists, case: ListCase, rows: list[Json]) -> None:
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "a row came twice"
    ranks = [lists.ranks[row_id] for row_id in ids]
    assert ranks == sorted(ranks)
    for (rank_a, id_a), (rank_b, id_b) in pairwise(zip(ranks, ids, strict=True)):
        if rank_a == rank_b and case.ties:  # a tie: PostgreSQL orders uuids as their hex text
            assert (id_a > id_b) if case.ties_by_id_descending else (id_a < id_b)


@pytest.fixture(params=list(LISTS), ids=list(LISTS))
def case(request: pytest.FixtureRequest) -> ListCase:
    return LISTS[request.param]


async def test_walking_the_pages_returns_every_row_once_in_order(
    api: httpx.AsyncClient, sessionmaker: Sessions, case: ListCase
) -> None:
    lists = Lists(sessionmaker)
    for rank in RANKS:
        await _add(lists, case, rank)
    filters = case.filters(lists)

    rows: list[Json] = []
    sizes = []
    url: str | None = case.path
    response = await api.get(case.path, params={**filters, "limit": 3})
    while True:
        page = response.json()
        assert isinstance(page, list)
        rows += page
        sizes.append(len(page))
        url = _next(response, 3, filters)
        if url is None:
            break
        response = await api.get(url)
    assert sizes == [3, 3, 1]
    assert {row["id"] for row in rows} == set(lists.ranks)
    _assert_in_order(lists, case, rows)

    whole = await api.get(case.path, params={**filters, "limit": 500})
    assert whole.json() == rows and _next(whole, 500, filters) is None
    # A last page that is exactly full announces no next page.
    exact = await api.get(case.path, params={**filters, "limit": len(RANKS)})
    assert len(exact.json()) == len(RANKS) and _next(exact, len(RANKS), filters) is None
    # No limit: the first 100 rows.
    assert (await api.get(case.path, params=filters)).json() == rows


async def test_rows_inserted_between_page_fetches_make_no_page_skip_or_repeat_a_row(
    api: httpx.AsyncClient, sessionmaker: Sessions, case: ListCase
) -> None:
    lists = Lists(sessionmaker)
    for rank in RANKS:
        await _add(lists, case, rank)
    originals = set(lists.ranks)
    filters = case.filters(lists)

    first = await api.get(case.path, params={**filters, "limit": 3})
    rows: list[Json] = first.json()
    url = _next(first, 3, filters)
    # Before the boundary, on it (a tie with the last row seen, so on either side by id) and after it.
    before = await _add(lists, case, 0)
    await _add(lists, case, lists.ranks[rows[-1]["id"]])
    after = await _add(lists, case, 999)
    while url is not None:
        response = await api.get(url)
        rows += response.json()
        url = _next(response, 3, filters)
        await _add(lists, case, 1)  # ahead of every page still to come

    ids = [row["id"] for row in rows]
    assert originals <= set(ids)
    assert str(after) in ids and str(before) not in ids
    _assert_in_order(lists, case, rows)


CURSORS = {
    "not base64": "not a cursor!",
    "base64 of no JSON": "bm90IGpzb24",
    "JSON of no cursor": "WzEsMiwzXQ",  # [1,2,3]
    "too long": "A" * 5000,
}


async def test_a_limit_out_of_range_or_a_malformed_cursor_is_refused(api: httpx.AsyncClient, case: ListCase) -> None:
    for limit in ("0", "-1", "501", "100000000000000000000000"):
        response = await api.get(case.path, params={"limit": limit})
        assert response.status_code == 400, limit
        assert response.json() == {"error": "invalid_limit", "message": response.json()["message"]}
    response = await api.get(case.path, params={"limit": "ten"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    for what, cursor in CURSORS.items():
        response = await api.get(case.path, params={"cursor": cursor})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor"), what


async def test_a_cursor_of_another_list_or_edited_is_refused(api: httpx.AsyncClient, sessionmaker: Sessions) -> None:
    lists = Lists(sessionmaker)
    for rank in (1, 2):
        await _add(lists, LISTS["brands"], rank)
        await _add(lists, LISTS["payments"], rank)
    brands = _next(await api.get("/api/brands", params={"limit": 1}), 1, {})
    payments = _next(await api.get("/api/payments", params={"limit": 1}), 1, {})
    assert brands is not None and payments is not None
    brand_cursor = parse_qs(urlsplit(brands).query)["cursor"][0]
    payment_cursor = parse_qs(urlsplit(payments).query)["cursor"][0]

    for path, cursor in [("/api/products", brand_cursor), ("/api/orders", payment_cursor)]:
        response = await api.get(path, params={"cursor": cursor})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor")
    assert (await api.get(brands)).status_code == 200

    # Forged: the cursor's own document with a value that does not fit, a value too many, cut short.
    document = json.loads(base64.urlsafe_b64decode(brand_cursor + "=" * (-len(brand_cursor) % 4)))
    name, row_id = document["after"]
    for after in ([name, "not-a-uuid"], [name + "\x00", row_id], [7, row_id], [name, row_id, row_id], [name]):
        forged = base64.urlsafe_b64encode(json.dumps({**document, "after": after}).encode()).decode().rstrip("=")
        response = await api.get("/api/brands", params={"cursor": forged})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor"), after
    response = await api.get("/api/brands", params={"cursor": brand_cursor[:-4]})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor")


async def test_a_browser_on_another_origin_may_read_the_link_header(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/brands", headers={"Origin": "http://localhost:4200"})
    assert response.headers["access-control-allow-origin"] == "http://localhost:4200"
    assert "link" in response.headers["access-control-expose-headers"].lower().split(", ")


def test_the_schema_documents_limit_cursor_and_the_link_header(api_schema: Json) -> None:
    for case in LISTS.values():
        operation = api_schema["paths"][case.path]["get"]
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert {"minimum": 1, "maximum": 500, "default": 100}.items() <= parameters["limit"]["schema"].items()
        assert "cursor" in parameters
        assert "Link" in operation["responses"]["200"]["headers"]
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }


@pytest.fixture
def api_schema() -> Json:
    from api.app import create_app
    from stack.settings import Settings

    settings = Settings(_env_file=None, database_url="postgresql+asyncpg://schema@127.0.0.1/none")
    return create_app(settings).openapi()
