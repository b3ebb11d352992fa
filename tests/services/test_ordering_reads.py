"""The ordering store's reads the API makes on every payment and shipment: one statement each, the same answer
as the order was recorded (lines sorted by SKU, every field as stored)."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.order import OrderStatus
from services.ordering.store import OrderingStore, OrderTotal
from stack.db import reading
from tests.orders import pending_order


async def test_an_order_reads_back_as_recorded_with_its_lines_by_sku(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    order = pending_order(sku="SKU-B")
    first = order.items[0]
    lines = [
        first.model_copy(update={"id": uuid.uuid4(), "sku": "SKU-C", "inventory_reservation_id": None}),
        first,
        first.model_copy(update={"id": uuid.uuid4(), "sku": "SKU-A", "inventory_reservation_id": uuid.uuid4()}),
    ]
    order = order.model_copy(update={"items": lines, "total_amount_minor": 3 * first.line_total_amount_minor})
    other = pending_order(sku="SKU-0")
    async with sessionmaker.begin() as session:
        assert await OrderingStore(session).record(order)
        assert await OrderingStore(session).record(other)

    async with reading(sessionmaker) as session:
        stored = await OrderingStore(session).get(order.id)
        missing = await OrderingStore(session).get(uuid.uuid4())
    assert stored is not None
    assert stored == order.model_copy(update={"items": sorted(lines, key=lambda line: line.sku)})
    assert stored.model_dump_json() == order.model_copy(update={"items": stored.items}).model_dump_json()
    assert missing is None


async def test_an_orders_total_is_its_status_amount_and_currency(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    order = pending_order(unit_price=1250, quantity=3)
    async with sessionmaker.begin() as session:
        await OrderingStore(session).record(order)
    async with reading(sessionmaker) as session:
        total = await OrderingStore(session).total(order.id)
        missing = await OrderingStore(session).total(uuid.uuid4())
    assert total == OrderTotal(status=OrderStatus.PENDING_PAYMENT, total_amount_minor=3750, currency="USD")
    assert missing is None
