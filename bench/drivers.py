"""What one operation is: a placement or a whole lifecycle, over REST or straight to the baseline workflow."""

import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from bench.baseline import BaselineDetails, BaselineOrder, BaselineOrderWorkflow, BaselinePay, BaselineShip
from services.catalog.demo import PRODUCTS
from services.inventory.demo import DEMO_LOCATION_CODE, DEMO_WAREHOUSE_CODE
from workflows.search_attributes import CUSTOMER_REF, ORDER_STATUS

CUSTOMER_NAME = "Bench Customer"
CUSTOMER_EMAIL_ADDRESS = "bench@example.com"
CUSTOMER_REF_VALUE = "0" * 64  # the floor sets a reference of the same size as the project's HMAC


class UnexpectedResponse(RuntimeError):
    pass


def demo_variants() -> list[tuple[UUID, str]]:
    """(variant id, SKU) of every demo variant, in catalog order."""
    return [(variant.id, variant.sku) for product in PRODUCTS for variant in product.variants]


async def _expect(response: aiohttp.ClientResponse, status: int) -> Any:
    async with response:
        if response.status != status:
            text = await response.text()
            raise UnexpectedResponse(f"{response.method} {response.url.path} -> {response.status}: {text[:200]}")
        return await response.json()


@dataclass
class Rest:
    """The project over HTTP, as a client of the API would use it.

    aiohttp rather than httpx: the load generator shares the machine's two cores with the stack, and httpx
    spent ~10 ms of CPU per lifecycle (five requests) where aiohttp spends ~2.5 ms.
    """

    http: aiohttp.ClientSession
    variants: list[UUID]
    placed: list[str] = field(default_factory=list)  # order ids, for the history breakdown

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
            body = {
                "sku": sku,
                "warehouseId": warehouse["id"],
                "locationId": location["id"],
                "quantity": quantity,
                "reason": "bench",
            }
            await _expect(await self.http.post("/api/stock/receipts", json=body), 200)

    async def place(self, first_variant: int, lines: int = 1) -> dict[str, object]:
        body = {
            "customerName": CUSTOMER_NAME,
            "customerEmail": CUSTOMER_EMAIL_ADDRESS,
            "items": [{"productVariantId": str(v), "quantity": 1} for v in self.lines(first_variant, lines)],
        }
        order = await _expect(await self.http.post("/api/orders", json=body), 201)
        if order["status"] != "PendingPayment":
            raise UnexpectedResponse(f"placed order is {order['status']}")
        self.placed.append(str(order["id"]))
        return order

    async def lifecycle(self, index: int) -> None:
        """Place -> create payment -> succeed it -> create shipment -> ship it."""
        order = await self.place(index)
        payment = await _expect(
            await self.http.post(
                "/api/payments",
                json={
                    "orderId": order["id"],
                    "amountMinor": order["totalAmountMinor"],
                    "currency": order["currency"],
                    "provider": "Manual",
                },
            ),
            201,
        )
        await _expect(
            await self.http.post(f"/api/payments/{payment['id']}/succeed", json={"providerReference": f"B-{index}"}),
            200,
        )
        shipment = await _expect(await self.http.post("/api/shipments", json={"orderId": order["id"]}), 201)
        shipped = await _expect(
            await self.http.post(
                f"/api/shipments/{shipment['id']}/ship", json={"carrier": "Bench", "trackingNumber": f"T-{index}"}
            ),
            200,
        )
        if shipped["status"] != "Shipped":
            raise UnexpectedResponse(f"shipment is {shipped['status']}")


@dataclass
class Baseline:
    """The bare workflow, driven through the Temporal client with the same kind of calls as the API makes."""

    client: Client
    task_queue: str
    local_activities: bool
    started: list[str] = field(default_factory=list)  # workflow ids, for the history breakdown

    async def place(self, index: int = 0, lines: int = 1) -> str:
        order_id = uuid.uuid4()
        workflow_id = f"baseline-{'local' if self.local_activities else 'activity'}-{order_id}"
        start = WithStartWorkflowOperation(
            BaselineOrderWorkflow.run,
            BaselineOrder(
                order_id=order_id,
                customer_email=CUSTOMER_EMAIL_ADDRESS,
                lines=lines,
                local_activities=self.local_activities,
            ),
            id=workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ORDER_STATUS, "Placing"),
                    SearchAttributePair(CUSTOMER_REF, CUSTOMER_REF_VALUE),
                ]
            ),
        )
        placed = await self.client.execute_update_with_start_workflow(
            BaselineOrderWorkflow.wait_placed, start_workflow_operation=start
        )
        if placed.status != "PendingPayment":
            raise UnexpectedResponse(f"baseline order is {placed.status}")
        self.started.append(workflow_id)
        return workflow_id

    async def lifecycle(self, index: int) -> None:
        """Place (update-with-start) -> pay (update) -> ship (update)."""
        handle = self.client.get_workflow_handle_for(BaselineOrderWorkflow.run, await self.place(index))
        await handle.execute_update(BaselineOrderWorkflow.mark_paid, BaselinePay(payment_id=uuid.uuid4()))
        shipped: BaselineDetails = await handle.execute_update(
            BaselineOrderWorkflow.mark_shipped, BaselineShip(shipment_id=uuid.uuid4())
        )
        if shipped.status != "Shipped":
            raise UnexpectedResponse(f"baseline order is {shipped.status}")
