"""What one operation is: a placement or a whole lifecycle, over REST or straight through the Temporal client."""

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
from temporalio.client import Client

from api.placing import order_start
from bench.load import OP_TIMEOUT
from contracts.order import MarkPaid, MarkShipped, OrderDetails, OrderLineInput, OrderStatus, PlaceOrder
from services.catalog.demo import PRODUCTS
from services.inventory.demo import DEMO_LOCATION_CODE, DEMO_WAREHOUSE_CODE
from stack.settings import Settings
from tooling.cards import GOOD_CARD, confirm_with_card
from workflows.order import OrderWorkflow, workflow_id

CUSTOMER_NAME = "Bench Customer"
CUSTOMER_EMAIL_ADDRESS = "bench@example.com"
STORM_EMAIL_ADDRESS = "storm@example.com"  # the expiry storm's orders, to find them in PostgreSQL


class UnexpectedResponse(RuntimeError):
    pass


class ActionPending(UnexpectedResponse):
    """503 `order_action_pending`: the workflow accepted the action but did not finish it within the API's bound
    (a worker died with its activity); it goes on in the background."""


KEEPALIVE = 2.0  # seconds an idle client connection is kept
PAID_POLL = 0.1  # seconds between reads of an order whose card payment was confirmed


def rest_session(base_url: str, headers: dict[str, str]) -> aiohttp.ClientSession:
    """The HTTP client of `Rest`: one per run, up to 200 connections.

    Idle connections are dropped before uvicorn's 5 s keep-alive ends: reusing one the server is closing fails the
    request ("Can not write request body").
    """
    connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=KEEPALIVE)
    return aiohttp.ClientSession(
        base_url, headers=headers, timeout=aiohttp.ClientTimeout(OP_TIMEOUT), connector=connector
    )


def demo_variants() -> list[tuple[UUID, str]]:
    """(variant id, SKU) of every demo variant, in catalog order."""
    return [(variant.id, variant.sku) for product in PRODUCTS for variant in product.variants]


async def _expect(response: aiohttp.ClientResponse, status: int) -> Any:
    async with response:
        if response.status != status:
            text = await response.text()
            error = ActionPending if response.status == 503 and "order_action_pending" in text else UnexpectedResponse
            raise error(f"{response.method} {response.url.path} -> {response.status}: {text[:200]}")
        return await response.json()


@dataclass
class Rest:
    """The project over HTTP, as a client of the API would use it.

    aiohttp rather than httpx: the load generator shares the machine's two cores with the stack, and httpx
    spent ~10 ms of CPU per lifecycle (five requests) where aiohttp spends ~2.5 ms.
    """

    http: aiohttp.ClientSession
    variants: list[UUID]
    provider_url: str = ""  # the payment provider's API (localstripe), where a shopper's browser confirms a card
    placed: list[str] = field(default_factory=list)  # order ids, in placing order
    shipped: list[str] = field(default_factory=list)  # order ids of the lifecycles that completed
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # every placed order as the API answered
    pending: dict[str, str] = field(default_factory=dict)  # order id -> the status its pending action leads to
    pending_placements: int = 0  # placements answered 503 order_action_pending (their order id is not known)

    def lines(self, first: int, count: int) -> list[UUID]:
        """`count` lines starting at variant `first`, round-robin: distinct while count <= variants."""
        return [self.variants[(first + n) % len(self.variants)] for n in range(count)]

    async def receive_stock(self, skus: list[str], quantity: int) -> None:
        """Receive `quantity` more units of each SKU into the demo warehouse and location."""
        warehouses = await _expect(await self.http.get("/api/warehouses"), 200)
        warehouse = next(w for w in warehouses if w["code"] == DEMO_WAREHOUSE_CODE)
        locations = await _expect(await self.http.get("/api/locations", params={"warehouseId": warehouse["id"]}), 200)
        location = next(loc for loc in locations if loc["code"] == DEMO_LOCATION_CODE)
        for sku in skus:
            body = {"sku": sku, "warehouseId": warehouse["id"], "locationId": location["id"], "quantity": quantity}
            await _expect(await self.http.post("/api/stock/receipts", json={**body, "reason": "bench"}), 200)

    async def place(self, first_variant: int, lines: int = 1) -> dict[str, Any]:
        items = [{"productVariantId": str(v), "quantity": 1} for v in self.lines(first_variant, lines)]
        body = {"customerName": CUSTOMER_NAME, "customerEmail": CUSTOMER_EMAIL_ADDRESS, "items": items}
        try:
            order = await _expect(await self.http.post("/api/orders", json=body), 201)
        except ActionPending:
            self.pending_placements += 1
            raise
        if order["status"] != "PendingPayment":
            raise UnexpectedResponse(f"placed order is {order['status']}")
        self.record(order)
        return order

    def record(self, order: dict[str, Any]) -> None:
        """Keep a placed order (as the API answers it) for the payments and cancels that follow."""
        self.placed.append(str(order["id"]))
        self.orders[str(order["id"])] = order

    async def create_payment(self, order: dict[str, Any], provider: str = "Manual") -> Any:
        """A pending payment of the whole order, as the API answers it (a Stripe one with its client secret)."""
        body = {"orderId": order["id"], "amountMinor": order["totalAmountMinor"], "currency": order["currency"]}
        return await _expect(await self.http.post("/api/payments", json={**body, "provider": provider}), 201)

    async def succeed_payment(self, payment_id: str, index: int) -> None:
        """The payment succeeds: the order's workflow is asked to mark it paid (an update)."""
        succeed = {"providerReference": f"B-{index}"}
        await _expect(await self.http.post(f"/api/payments/{payment_id}/succeed", json=succeed), 200)

    async def cancel(self, order_id: str) -> None:
        order = await _expect(await self.http.post(f"/api/orders/{order_id}/cancel", json={}), 200)
        if order["status"] != "Cancelled":
            raise UnexpectedResponse(f"cancelled order is {order['status']}")

    async def lifecycle(self, index: int) -> None:
        """Place -> create payment -> succeed it -> create shipment -> ship it."""
        order = await self.place(index)
        try:
            await self.succeed_payment(str((await self.create_payment(order))["id"]), index)
        except ActionPending:
            self.pending[str(order["id"])] = "Paid"
            raise
        await self.ship(order, index)

    async def card_lifecycle(self, index: int) -> None:
        """Place -> a Stripe payment -> the good card confirmed at the provider, as the shop's page does in the
        browser -> refresh, then read the order until Paid (the provider's webhook may tell it first) -> ship,
        which captures the authorization: Shipped means captured for the order's total."""
        order = await self.place(index)
        payment = await self.create_payment(order, "Stripe")
        intent = await confirm_with_card(self.provider_url, payment["clientSecret"], GOOD_CARD)
        if intent["status"] != "requires_capture":
            raise UnexpectedResponse(f"confirmed intent is {intent['status']}")
        await _expect(await self.http.post(f"/api/payments/{payment['id']}/refresh"), 200)
        async with asyncio.timeout(OP_TIMEOUT):
            while (await _expect(await self.http.get(f"/api/orders/{order['id']}"), 200))["status"] != "Paid":
                await asyncio.sleep(PAID_POLL)
        await self.ship(order, index)

    async def ship(self, order: dict[str, Any], index: int) -> None:
        shipment = await _expect(await self.http.post("/api/shipments", json={"orderId": order["id"]}), 201)
        ship = {"carrier": "Bench", "trackingNumber": f"T-{index}"}
        try:
            shipped = await _expect(await self.http.post(f"/api/shipments/{shipment['id']}/ship", json=ship), 200)
        except ActionPending:
            self.pending[str(order["id"])] = "Shipped"
            raise
        if shipped["status"] != "Shipped":
            raise UnexpectedResponse(f"shipment is {shipped['status']}")
        self.shipped.append(str(order["id"]))


@dataclass(frozen=True)
class Placed:
    """An order of an expiry storm: its workflow and when its payment timer fires."""

    order_id: UUID
    workflow_id: str
    payment_deadline: datetime


@dataclass
class Direct:
    """OrderWorkflow runs started straight through the Temporal client, the way the API starts them (the same
    update-with-start, input and search attributes), on the task queue of `settings`: the project's order workers
    or one of the floor's step modes (bench.floor).

    The API gives every order the same PAYMENT_TIMEOUT_SECONDS, counted from its placement, so orders placed over a
    minute expire over a minute; an expiry storm needs deadlines in one second, so `place` takes one per order.
    """

    client: Client
    settings: Settings  # whose task queue, and the secret its customer references are keyed with
    variants: list[UUID]
    customer_email: str = CUSTOMER_EMAIL_ADDRESS

    async def place_order(self, index: int, timeout_seconds: int | None = None, lines: int = 1) -> OrderDetails:
        """Place one order of `lines` lines from variant `index` on (round-robin); answers it as the API would."""
        items = [OrderLineInput(product_variant_id=self.variants[(index + n) % len(self.variants)], quantity=1)
                 for n in range(lines)]  # fmt: skip
        timeout = timeout_seconds or self.settings.payment_timeout_seconds
        order = PlaceOrder(order_id=uuid.uuid4(), customer_name=CUSTOMER_NAME, customer_email=self.customer_email,
                           items=items, payment_timeout_seconds=timeout)  # fmt: skip
        placed = await self.client.execute_update_with_start_workflow(
            OrderWorkflow.wait_placed, start_workflow_operation=order_start(order, self.settings)
        )
        if placed.status is not OrderStatus.PENDING_PAYMENT:
            raise UnexpectedResponse(f"placed order is {placed.status}")
        return placed

    async def place(self, index: int, timeout_seconds: int) -> Placed:
        placed = await self.place_order(index, timeout_seconds)
        # The run sets its timer when placing ends, in the workflow task that recorded the order (created_at).
        return Placed(placed.id, workflow_id(placed.id), placed.created_at + timedelta(seconds=timeout_seconds))

    async def placement(self, index: int) -> None:
        await self.place_order(index)

    async def lifecycle(self, index: int) -> str:
        """Place (update-with-start) -> pay (update) -> ship (update), as the API asks the workflow; its run's id."""
        placed = await self.place_order(index)
        handle = self.client.get_workflow_handle_for(OrderWorkflow.run, workflow_id(placed.id))
        await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
        shipped = await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped(shipment_id=uuid.uuid4()))
        if shipped.status is not OrderStatus.SHIPPED:
            raise UnexpectedResponse(f"order is {shipped.status}")
        return handle.id
