"""Shipments racing the order they belong to end consistent (issue 11, item 5): a shipment never ends Shipped
while its order is not, nor Pending on a Cancelled order. Real PostgreSQL, and for the REST races the worker on
a Temporal dev server."""

import asyncio
from datetime import UTC, datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.fulfillment import FulfillmentActivities
from activities.ordering import OrderingActivities
from contracts.order import OrderRef, OrderStatus, RecordStatus
from services.fulfillment.schemas import CreateShipmentRequest, ShipmentStatus
from services.fulfillment.store import FulfillmentStore
from services.ordering.store import OrderingStore
from tests.demo import ARM_BLK
from tests.http import Json, ok, pay, place
from tests.orders import pending_order

ROUNDS = 5
POLL = 0.02
PATIENCE = 30.0  # seconds: a bound on waiting for PostgreSQL, not an assertion on timing


async def waiting_on_a_lock(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with sessionmaker() as session:
        return bool(await session.scalar(text("SELECT count(*) > 0 FROM pg_locks WHERE NOT granted")))


async def test_a_shipment_created_as_its_order_is_cancelled_is_cancelled_with_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The worst interleaving, forced: the shipment's unit of work has read Paid when the cancel's steps start."""
    order = pending_order()
    ordering, fulfillment = OrderingActivities(sessionmaker), FulfillmentActivities(sessionmaker)
    await ordering.record_order(order)
    await ordering.record_status(RecordStatus(order_id=order.id, status=OrderStatus.PAID, at=datetime.now(UTC)))

    async def cancel_steps() -> None:  # what OrderWorkflow._cancel runs after the compensations, in its order
        await ordering.record_status(
            RecordStatus(order_id=order.id, status=OrderStatus.CANCELLED, at=datetime.now(UTC))
        )
        await fulfillment.cancel_pending(OrderRef(order_id=order.id))

    async with sessionmaker.begin() as session:  # POST /api/shipments' unit of work
        assert await OrderingStore(session).status(order.id, hold=True) is OrderStatus.PAID
        cancelling = asyncio.create_task(cancel_steps())
        deadline = asyncio.get_running_loop().time() + PATIENCE
        while not cancelling.done() and not await waiting_on_a_lock(sessionmaker):
            assert asyncio.get_running_loop().time() < deadline, "the cancel neither finished nor waited"
            await asyncio.sleep(POLL)
        shipment = await FulfillmentStore(session).create(CreateShipmentRequest(order_id=order.id))
    await cancelling

    async with sessionmaker() as session:
        assert await OrderingStore(session).status(order.id) is OrderStatus.CANCELLED
        stored = await FulfillmentStore(session).get(shipment.id)
    assert stored is not None and stored.status is ShipmentStatus.CANCELLED


async def paid_order_with_shipment(api: httpx.AsyncClient) -> tuple[Json, Json]:
    order = await place(api, (ARM_BLK, 1))
    await pay(api, order)
    created = await api.post("/api/shipments", json={"orderId": order["id"]})
    assert created.status_code == 201, created.text
    return order, created.json()


async def consistent(api: httpx.AsyncClient, order: Json) -> tuple[str, list[str]]:
    """The order's status and its shipments' statuses, checked against each other."""
    status = (ok(await api.get(f"/api/orders/{order['id']}")))["status"]
    statuses = [s["status"] for s in ok(await api.get("/api/shipments")) if s["orderId"] == order["id"]]
    assert "Shipped" not in statuses or status == "Shipped", (status, statuses)
    assert "Pending" not in statuses or status == "Paid", (status, statuses)
    return status, statuses


async def test_shipping_and_cancelling_one_shipment_at_once_end_consistent(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    for _ in range(ROUNDS):
        order, shipment = await paid_order_with_shipment(api)
        ship, cancel = await asyncio.gather(
            api.post(f"/api/shipments/{shipment['id']}/ship", json={"carrier": "DHL"}),
            api.post(f"/api/shipments/{shipment['id']}/cancel"),
        )
        assert {ship.status_code, cancel.status_code} <= {200, 400}, (ship.text, cancel.text)
        status, statuses = await consistent(api, order)
        assert (status, statuses) in (("Shipped", ["Shipped"]), ("Paid", ["Cancelled"]))


async def test_creating_a_shipment_as_the_order_is_cancelled_ends_consistent(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    for _ in range(ROUNDS):
        order = await place(api, (ARM_BLK, 1))
        await pay(api, order)
        created, cancelled = await asyncio.gather(
            api.post("/api/shipments", json={"orderId": order["id"]}),
            api.post(f"/api/orders/{order['id']}/cancel"),
        )
        assert created.status_code in (201, 400) and cancelled.status_code == 200, (created.text, cancelled.text)
        status, statuses = await consistent(api, order)
        assert status == "Cancelled" and set(statuses) <= {"Cancelled"}
