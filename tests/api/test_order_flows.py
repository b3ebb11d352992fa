"""The seed README's completed scenarios over REST, with stock totals checked after every step.

Real PostgreSQL, a real Temporal dev server and the worker of worker.py: every effect must be visible on the
very next request, as the seed's smoke scripts expect.
"""

import asyncio
import uuid

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.customers import customer_runs, customer_runs_query
from stack.settings import Settings
from tests.demo import ARM_BLK, NOTE_A5
from tests.eventually import assert_eventually
from tests.http import Json, create_payment, ok, order_status, pay, place, refused, stock


async def test_cancel_flow(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 2))
    assert order["status"] == "PendingPayment"
    assert order["totalAmountMinor"] == 13800 and order["currency"] == "USD"
    reservation = order["items"][0]["inventoryReservationId"]
    assert reservation is not None
    assert await stock(api, "ARM-BLK") == (before[0], before[1] + 2)

    cancelled = ok(await api.post(f"/api/orders/{order['id']}/cancel"))
    assert cancelled["status"] == "Cancelled"
    assert await order_status(api, order) == "Cancelled"
    assert await stock(api, "ARM-BLK") == before
    # the reservation is released: releasing again is a no-op, committing it is refused
    assert (ok(await api.post(f"/api/stock/reservations/{reservation}/release")))["status"] == "Released"
    refused(await api.post(f"/api/stock/reservations/{reservation}/commit"), 400, "reservation_not_active")
    refused(await api.post(f"/api/orders/{order['id']}/cancel"), 400, "order_cannot_be_cancelled")


async def test_payment_success_flow(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 1))

    payment = await pay(api, order)

    assert payment["status"] == "Succeeded" and payment["succeededAt"] is not None
    assert payment["providerReference"] == "R1"
    assert await order_status(api, order) == "Paid"
    assert await stock(api, "ARM-BLK") == (before[0], before[1] + 1)  # still reserved, on-hand unchanged
    again = ok(await api.post(f"/api/orders/{order['id']}/mark-paid"))
    assert again["status"] == "Paid"
    refused(await api.post(f"/api/payments/{payment['id']}/succeed", json={}), 400, "payment_not_pending")


async def test_payment_failure_flow_then_a_second_payment(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 1))
    created = await create_payment(api, order, amountMinor=6900, currency="usd")
    failed = ok(await api.post(f"/api/payments/{created['id']}/fail", json={"failureReason": "declined"}))

    assert failed["status"] == "Failed" and failed["failureReason"] == "declined"
    assert await order_status(api, order) == "PendingPayment"
    assert await stock(api, "ARM-BLK") == (before[0], before[1] + 1)
    refused(await api.post(f"/api/payments/{failed['id']}/fail", json={}), 400, "payment_not_pending")
    state = ok(await api.get(f"/api/orders/{order['id']}/workflow"))
    assert state["paymentFailures"] == 1 and state["paymentDeadline"] is not None

    await pay(api, order)
    assert await order_status(api, order) == "Paid"


async def test_shipment_flow(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 2))
    refused(await api.post("/api/shipments", json={"orderId": order["id"]}), 400, "order_not_ready_for_shipment")
    await pay(api, order)

    created = await api.post("/api/shipments", json={"orderId": order["id"], "carrier": "DHL"})
    assert created.status_code == 201, created.text
    shipment = ok(await api.post(f"/api/shipments/{created.json()['id']}/ship", json={"trackingNumber": "T-1"}))

    assert shipment["status"] == "Shipped" and shipment["carrier"] == "DHL" and shipment["trackingNumber"] == "T-1"
    assert await order_status(api, order) == "Shipped"
    assert await stock(api, "ARM-BLK") == (before[0] - 2, before[1])
    reservation = order["items"][0]["inventoryReservationId"]
    assert (ok(await api.post(f"/api/stock/reservations/{reservation}/commit")))["status"] == "Committed"
    refused(await api.post(f"/api/stock/reservations/{reservation}/release"), 400, "reservation_not_active")
    # idempotent and strict repeats, answered from the store once the run has finished
    assert (ok(await api.post(f"/api/orders/{order['id']}/mark-shipped")))["status"] == "Shipped"
    assert (ok(await api.post(f"/api/orders/{order['id']}/mark-paid")))["status"] == "Shipped"
    refused(await api.post(f"/api/orders/{order['id']}/cancel"), 400, "order_cannot_be_cancelled")
    refused(await api.post(f"/api/shipments/{shipment['id']}/ship", json={}), 400, "shipment_cannot_be_shipped")
    assert await stock(api, "ARM-BLK") == (before[0] - 2, before[1])  # on-hand dropped exactly once
    movements = ok(await api.get("/api/stock/movements", params={"sku": "ARM-BLK"}))
    assert [m["type"] for m in movements if m["reason"] == f"ORDER-{order['id']}"].count("Shipment") == 1


async def test_cancelling_a_paid_order_refunds_and_releases(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 1))
    payment = await pay(api, order)
    pending_shipment = await api.post("/api/shipments", json={"orderId": order["id"]})

    cancelled = ok(await api.post(f"/api/orders/{order['id']}/cancel"))

    assert cancelled["status"] == "Cancelled"
    refunded = ok(await api.get(f"/api/payments/{payment['id']}"))
    assert refunded["status"] == "Refunded" and refunded["refundedAt"] is not None
    shipment = ok(await api.get(f"/api/shipments/{pending_shipment.json()['id']}"))
    assert shipment["status"] == "Cancelled"
    assert await stock(api, "ARM-BLK") == before


async def test_expire_releases_and_repeats_as_no_op(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 3))
    created = await create_payment(api, order)

    assert (ok(await api.post(f"/api/orders/{order['id']}/expire")))["status"] == "Expired"
    assert (ok(await api.post(f"/api/orders/{order['id']}/expire")))["status"] == "Expired"
    assert await stock(api, "ARM-BLK") == before
    assert (ok(await api.get(f"/api/payments/{created['id']}")))["status"] == "Cancelled"
    refused(await api.post(f"/api/orders/{order['id']}/mark-paid"), 400, "order_cannot_be_marked_paid")


async def test_placement_refusals_leave_no_reservation(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK"), await stock(api, "NOTE-A5")
    too_many = {"customerName": "A", "customerEmail": "a@x", "items": [
        {"productVariantId": ARM_BLK, "quantity": 1}, {"productVariantId": NOTE_A5, "quantity": 10_000},
    ]}  # fmt: skip
    refused(await api.post("/api/orders", json=too_many), 400, "insufficient_stock")
    unknown = {
        "customerName": "A",
        "customerEmail": "a@x",
        "items": [{"productVariantId": str(uuid.uuid4()), "quantity": 1}],
    }
    refused(await api.post("/api/orders", json=unknown), 400, "catalog_variant_snapshot_not_found")
    assert (await stock(api, "ARM-BLK"), await stock(api, "NOTE-A5")) == before
    assert all(o["customerName"] != "A" for o in ok(await api.get("/api/orders")))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # the checks themselves: tests/unit/test_create_order_checks.py; here, that a refusal is a 400 with its code
        ({"customerName": "A", "customerEmail": "a@x", "items": []}, "order_items_required"),
        ({"customerName": "A", "customerEmail": "a@x", "items": [{"productVariantId": "nope", "quantity": 1}]},
         "invalid_request"),
    ],
)  # fmt: skip
async def test_create_order_bad_input(stack_api: httpx.AsyncClient, body: Json, code: str) -> None:
    refused(await stack_api.post("/api/orders", json=body), 400, code)


async def test_unknown_orders(stack_api: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    refused(await stack_api.get(f"/api/orders/{missing}"), 404, "order_not_found")
    for action in ("cancel", "expire", "mark-paid", "mark-shipped"):
        refused(await stack_api.post(f"/api/orders/{missing}/{action}"), 400, "order_not_found")
    refused(await stack_api.get("/api/orders/not-a-uuid"), 404, "not_found")
    refused(await stack_api.post("/api/shipments", json={"orderId": str(missing)}), 404, "order_not_found")


async def test_idempotency_key_returns_the_same_order(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first, second = await asyncio.gather(place(api, (ARM_BLK, 1), headers=key), place(api, (ARM_BLK, 1), headers=key))
    assert first["id"] == second["id"]
    ok(await api.post(f"/api/orders/{first['id']}/cancel"))
    third = await place(api, (ARM_BLK, 1), headers=key)  # the run has finished: answered from the store
    assert third["id"] == first["id"] and third["status"] == "Cancelled"
    assert await stock(api, "ARM-BLK") == before


async def test_checkout_turns_a_cart_into_an_order_and_empties_it(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    cart = (await api.post("/api/carts")).json()
    await api.post(f"/api/carts/{cart['id']}/items", json={"productVariantId": ARM_BLK, "quantity": 2})
    await api.post(f"/api/carts/{cart['id']}/items", json={"productVariantId": NOTE_A5, "quantity": 1})

    response = await api.post(
        f"/api/carts/{cart['id']}/checkout", json={"customerName": "Ada", "customerEmail": "ada@example.com"}
    )

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["totalAmountMinor"] == 2 * 6900 + 1200
    assert [item["sku"] for item in order["items"]] == ["ARM-BLK", "NOTE-A5"]
    assert (ok(await api.get(f"/api/carts/{cart['id']}")))["items"] == []
    empty = await api.post(f"/api/carts/{cart['id']}/checkout", json={"customerName": "A", "customerEmail": "a@x"})
    refused(empty, 400, "order_items_required")
    refused(await api.post(f"/api/carts/{uuid.uuid4()}/checkout", json={}), 404, "cart_not_found")


async def test_operators_can_filter_orders_by_status_and_customer_in_temporal(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment, order_settings: Settings
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    order = await place(stack_api, (ARM_BLK, 1), email=email)
    # the customer is found by a keyed hash of the email, whatever its case and surrounding spaces
    query = f'{customer_runs_query(order_settings, f" {email.upper()} ")} AND OrderStatus = "PendingPayment"'

    # Visibility is eventually consistent: poll with a deadline.
    await assert_eventually(lambda: _listed(dev_env, query, [f"order-{order['id']}"]))
    ok(await stack_api.post(f"/api/orders/{order['id']}/cancel"))
    cancelled = f'{customer_runs_query(order_settings, email)} AND OrderStatus = "Cancelled" AND OrderTotalMinor = 6900'
    await assert_eventually(lambda: _listed(dev_env, cancelled, [f"order-{order['id']}"]))
    runs = [run async for run in customer_runs(dev_env.client, order_settings, email)]
    assert [run.id for run in runs] == [f"order-{order['id']}"]
    assert email not in str(runs[0].typed_search_attributes)


async def _listed(env: WorkflowEnvironment, query: str, expected: list[str]) -> None:
    ids = [w.id async for w in env.client.list_workflows(query)]
    assert ids == expected, f"{query}: {ids}"
