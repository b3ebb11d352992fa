"""The seed README's completed scenarios, over HTTP against the process stack (API, worker, dev server, PostgreSQL).

They run against an API in `AUTH_MODE=open`, without credentials, as the seed's own scripts do. Stock totals
(on-hand, reserved) of the SKU are read after every step: only the steps the README names may change them.
"""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.demo import ARM_BLK, NOTE_A5
from tests.e2e.conftest import HTTP_TIMEOUT
from tests.e2e.processes import Stack
from tests.http import create_payment, ok, order_status, place, refused, stock
from tooling.invariants import Expectations, check_invariants, check_once, reservation_status

pytestmark = pytest.mark.e2e

SEED_EMAIL = "grace@seed.e2e.test"


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials, of the stack's second API, which runs in `AUTH_MODE=open`."""
    await stack.ensure_open_api()
    async with httpx.AsyncClient(base_url=stack.open_base_url, timeout=HTTP_TIMEOUT) as client:
        yield client


async def test_cart_flow(http: httpx.AsyncClient) -> None:
    before = await stock(http, "ARM-BLK")
    cart = ok(await http.post("/api/carts"), 201)
    assert cart["items"] == []
    items = f"/api/carts/{cart['id']}/items"

    added = ok(await http.post(items, json={"productVariantId": ARM_BLK, "quantity": 2}))
    assert [(i["productVariantId"], i["quantity"]) for i in added["items"]] == [(ARM_BLK, 2)]
    assert await stock(http, "ARM-BLK") == before  # a cart reserves nothing

    again = ok(await http.post(items, json={"productVariantId": ARM_BLK, "quantity": 3}))
    assert [i["quantity"] for i in again["items"]] == [5]
    updated = ok(await http.put(f"{items}/{ARM_BLK}", json={"quantity": 4}))
    assert [i["quantity"] for i in updated["items"]] == [4]
    ok(await http.post(items, json={"productVariantId": NOTE_A5, "quantity": 1}))
    removed = ok(await http.delete(f"{items}/{NOTE_A5}"))
    assert [i["productVariantId"] for i in removed["items"]] == [ARM_BLK]
    # only ids and quantities: no trusted name, price, SKU or currency is kept in a cart
    assert set(removed["items"][0]) == {"id", "productVariantId", "quantity", "createdAt", "updatedAt"}
    assert await stock(http, "ARM-BLK") == before

    cleared = ok(await http.post(f"/api/carts/{cart['id']}/clear"))
    assert cleared["items"] == []
    assert (ok(await http.get(f"/api/carts/{cart['id']}")))["items"] == []
    assert await stock(http, "ARM-BLK") == before


async def test_cancel_flow(http: httpx.AsyncClient) -> None:
    before = await stock(http, "ARM-BLK")
    order = await place(http, (ARM_BLK, 2), email=SEED_EMAIL)
    assert order["status"] == "PendingPayment"
    item = order["items"][0]
    assert (item["sku"], item["unitPriceAmountMinor"], item["currency"]) == ("ARM-BLK", 6900, "USD")
    assert item["inventoryReservationId"] is not None
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 2)

    cancelled = ok(await http.post(f"/api/orders/{order['id']}/cancel"))
    assert cancelled["status"] == "Cancelled"
    assert await order_status(http, order) == "Cancelled"
    assert await stock(http, "ARM-BLK") == before
    reservation = ok(await http.post(f"/api/stock/reservations/{item['inventoryReservationId']}/release"))
    assert reservation["status"] == "Released"
    assert await stock(http, "ARM-BLK") == before


async def test_payment_success_flow(http: httpx.AsyncClient, stack: Stack) -> None:
    before = await stock(http, "ARM-BLK")
    order = await place(http, (ARM_BLK, 1), email=SEED_EMAIL)
    assert order["status"] == "PendingPayment"
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 1)
    payment = await create_payment(http, order)
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 1)

    succeeded = ok(await http.post(f"/api/payments/{payment['id']}/succeed", json={}))
    assert succeeded["status"] == "Succeeded" and succeeded["succeededAt"] is not None
    assert await order_status(http, order) == "Paid"
    # the reservation stays allocated, not committed: on-hand has not decreased
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 1)
    assert await reservation_status(stack.database_url, order["items"][0]["inventoryReservationId"]) == "Active"


async def test_payment_failure_flow(http: httpx.AsyncClient) -> None:
    before = await stock(http, "ARM-BLK")
    order = await place(http, (ARM_BLK, 1), email=SEED_EMAIL)
    assert order["status"] == "PendingPayment"
    payment = await create_payment(http, order)

    failed = ok(await http.post(f"/api/payments/{payment['id']}/fail", json={"failureReason": "declined"}))
    assert failed["status"] == "Failed" and failed["failureReason"] == "declined"
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 1)  # nothing committed
    assert await order_status(http, order) == "PendingPayment"  # the order is untouched
    # terminal: neither failing again nor succeeding changes it
    refused(await http.post(f"/api/payments/{payment['id']}/fail", json={}), 400, "payment_not_pending")
    refused(await http.post(f"/api/payments/{payment['id']}/succeed", json={}), 400, "payment_not_pending")
    assert (ok(await http.get(f"/api/payments/{payment['id']}")))["status"] == "Failed"
    assert await order_status(http, order) == "PendingPayment"
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 1)


async def test_shipment_flow(http: httpx.AsyncClient, stack: Stack) -> None:
    baseline = await check_once(stack.database_url, stack.temporal_client, stack.task_queue, Expectations())
    before = await stock(http, "ARM-BLK")
    order = await place(http, (ARM_BLK, 2), email=SEED_EMAIL)
    assert order["status"] == "PendingPayment"
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 2)
    payment = await create_payment(http, order)
    ok(await http.post(f"/api/payments/{payment['id']}/succeed", json={}))
    assert await order_status(http, order) == "Paid"
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 2)  # still only reserved

    shipment = ok(await http.post("/api/shipments", json={"orderId": order["id"], "carrier": "DHL"}), 201)
    assert shipment["status"] == "Pending"
    assert await stock(http, "ARM-BLK") == (before[0], before[1] + 2)
    shipped = ok(await http.post(f"/api/shipments/{shipment['id']}/ship", json={"trackingNumber": "T-1"}))
    assert shipped["status"] == "Shipped" and shipped["shippedAt"] is not None

    assert await order_status(http, order) == "Shipped"
    assert await stock(http, "ARM-BLK") == (before[0] - 2, before[1])  # committed: on-hand decreased once
    assert await reservation_status(stack.database_url, order["items"][0]["inventoryReservationId"]) == "Committed"

    report = await check_invariants(stack.database_url, stack.temporal_client, stack.task_queue, baseline=baseline)
    assert report.ok, report.details()
