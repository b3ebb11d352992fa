"""Idempotency keys bound to their request (issue 11, item 2), over REST on real PostgreSQL, a real Temporal dev
server and the worker of worker.py.

A key is bound to its route and the fingerprint of the first request (path and canonical body): a retry gets
the first attempt's answer, another request with the key is refused (422) and learns nothing of the first.
"""

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.activities import OrderingSteps, activity_name
from services.payment.models import Payment
from stack.settings import Settings
from tests.demo import ARM_BLK, NOTE_A5
from tests.http import ok, place, refused, stock
from tests.orders import order_input
from tests.workflows.fakes import FakeWorld
from usecases.idempotency import first_order_id, keyed_request
from workflows.order import OrderWorkflow, workflow_id

Json = dict[str, Any]
ORDER = {
    "customerName": "Ada Lovelace",
    "customerEmail": "ada@example.com",
    "items": [{"productVariantId": ARM_BLK, "quantity": 1}],
}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def assert_reveals_nothing(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "idempotency_key_reused",
        "message": response.json()["message"],
    }
    assert "ada" not in response.text.lower() and "order" not in response.headers.get("location", "")


async def test_a_key_reused_with_another_body_is_refused_and_reveals_nothing(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    headers = key()
    first = await api.post("/api/orders", json=ORDER, headers=headers)
    assert first.status_code == 201, first.text

    other = ORDER | {"customerName": "Mallory", "customerEmail": "mallory@example.com"}
    reused = await api.post("/api/orders", json=other, headers=headers)

    assert_reveals_nothing(reused)
    assert first.json()["id"] not in reused.text
    # the same request again still gets its order; spelled differently (key case, whitespace) is the same request
    again = await api.post("/api/orders", json={k.upper(): v for k, v in ORDER.items()}, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


def test_order_ids_come_from_the_key_and_the_server_secret() -> None:
    """Nobody without APP_SECRET can compute the order a key places, and keys of one route never reach another's."""
    server, other = (Settings(_env_file=None, app_secret=secret) for secret in ("server-secret", "another-secret"))
    assert first_order_id(server, "k-1") != first_order_id(other, "k-1")
    assert first_order_id(server, "k-1") != first_order_id(server, "k-2")
    assert first_order_id(server, "k-1") == first_order_id(server, "k-1")  # every replica, every restart
    orders = keyed_request(server, "POST /api/orders", "/api/orders", "k-1")
    payments = keyed_request(server, "POST /api/payments", "/api/payments", "k-1")
    assert orders.derived_id() != payments.derived_id() and orders.key_digest != payments.key_digest
    # the seed-era derivation anyone could compute (uuid5 of the key in a published namespace) is gone
    assert uuid.uuid5(uuid.UUID("6f1c2a59-3f0e-4d8a-9a57-1d2f4c8b7e10"), "k-1") != first_order_id(server, "k-1")


async def test_a_placement_given_up_is_placed_again_by_a_retry_with_the_same_key(
    stack_api: httpx.AsyncClient, order_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    """503 `order_placement_failed` is not sticky: the retry places the order, in a new run under a new id."""
    api = stack_api
    headers = key()
    given_up = first_order_id(order_settings, headers["Idempotency-Key"])
    # the key's first run gave up placing (its recording kept failing), as a long outage would make it
    world = FakeWorld()
    arm = world.add_product("ARM-BLK", stock=5)
    world.broken.add(activity_name(OrderingSteps.record_order))
    broken_queue = f"broken-{uuid.uuid4()}"
    async with Worker(
        dev_env.client, task_queue=broken_queue, workflows=[OrderWorkflow], activities=world.activities()
    ):
        outcome = await dev_env.client.execute_workflow(
            OrderWorkflow.run,
            order_input(given_up, (arm.product_variant_id, 1), placement_attempts=1),
            id=workflow_id(given_up),
            task_queue=broken_queue,
        )
    assert outcome.rejection is not None and outcome.rejection.code == "order_placement_failed"

    placed = await api.post("/api/orders", json=ORDER, headers=headers)

    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["id"] != str(given_up) and order["status"] == "PendingPayment"
    again = await api.post("/api/orders", json=ORDER, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == order["id"]


async def test_a_placement_whose_run_was_terminated_is_placed_again_by_a_retry(
    stack_api: httpx.AsyncClient, order_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    api = stack_api
    headers = key()
    given_up = first_order_id(order_settings, headers["Idempotency-Key"])
    handle = await dev_env.client.start_workflow(
        OrderWorkflow.run,
        order_input(given_up, (uuid.UUID(ARM_BLK), 1)),
        id=workflow_id(given_up),
        task_queue=f"nobody-{uuid.uuid4()}",  # no worker: the run never places, and is terminated
    )
    await handle.terminate("placement abandoned")

    placed = await api.post("/api/orders", json=ORDER, headers=headers)

    assert placed.status_code == 201, placed.text
    assert placed.json()["id"] != str(given_up)


async def _cart(api: httpx.AsyncClient, *lines: tuple[str, int]) -> str:
    cart: str = (await api.post("/api/carts")).json()["id"]
    for variant, quantity in lines:
        ok(await api.post(f"/api/carts/{cart}/items", json={"productVariantId": variant, "quantity": quantity}))
    return cart


def _lines(cart: Json) -> list[tuple[str, int]]:
    return sorted((item["productVariantId"], item["quantity"]) for item in cart["items"])


async def test_checkout_with_a_reused_key_never_touches_another_cart(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    headers = key()
    body = {"customerName": "Ada", "customerEmail": "ada@example.com"}
    first_cart, second_cart = await _cart(api, (ARM_BLK, 1)), await _cart(api, (NOTE_A5, 2))
    first = await api.post(f"/api/carts/{first_cart}/checkout", json=body, headers=headers)
    assert first.status_code == 201, first.text

    reused = await api.post(f"/api/carts/{second_cart}/checkout", json=body, headers=headers)

    assert_reveals_nothing(reused)
    assert _lines(ok(await api.get(f"/api/carts/{second_cart}"))) == [(NOTE_A5, 2)]


async def test_checkout_takes_exactly_the_ordered_lines_out_of_the_cart_once(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    headers = key()
    body = {"customerName": "Ada", "customerEmail": "ada@example.com"}
    cart = await _cart(api, (ARM_BLK, 2))
    order = await api.post(f"/api/carts/{cart}/checkout", json=body, headers=headers)
    assert order.status_code == 201, order.text
    assert _lines(ok(await api.get(f"/api/carts/{cart}"))) == []

    # the shopper goes on shopping; a retry of the checkout (its answer was lost) answers with the same order
    # and leaves the new lines alone
    await _cart_add(api, cart, (ARM_BLK, 1), (NOTE_A5, 1))
    retry = await api.post(f"/api/carts/{cart}/checkout", json=body, headers=headers)

    assert retry.status_code == 201 and retry.json()["id"] == order.json()["id"]
    assert _lines(ok(await api.get(f"/api/carts/{cart}"))) == sorted([(ARM_BLK, 1), (NOTE_A5, 1)])


async def _cart_add(api: httpx.AsyncClient, cart: str, *lines: tuple[str, int]) -> None:
    for variant, quantity in lines:
        ok(await api.post(f"/api/carts/{cart}/items", json={"productVariantId": variant, "quantity": quantity}))


async def test_payments_and_shipments_honour_the_key(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    body = {"orderId": order["id"], "amountMinor": 6900, "currency": "USD", "provider": "Manual"}
    headers = key()

    first, second = await asyncio.gather(
        api.post("/api/payments", json=body, headers=headers), api.post("/api/payments", json=body, headers=headers)
    )

    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["id"] == second.json()["id"]
    assert await _payments_of(sessionmaker, order["id"]) == 1
    assert_reveals_nothing(await api.post("/api/payments", json=body | {"provider": "Other"}, headers=headers))

    ok(await api.post(f"/api/payments/{first.json()['id']}/succeed", json={}))
    shipment = {"orderId": order["id"], "carrier": "DHL"}
    ship_key = key()
    created = [await api.post("/api/shipments", json=shipment, headers=ship_key) for _ in range(2)]
    assert [c.status_code for c in created] == [201, 201] and created[0].json()["id"] == created[1].json()["id"]
    assert len([s for s in ok(await api.get("/api/shipments")) if s["orderId"] == order["id"]]) == 1
    assert_reveals_nothing(await api.post("/api/shipments", json=shipment | {"carrier": "UPS"}, headers=ship_key))


async def _payments_of(sessionmaker: async_sessionmaker[AsyncSession], order_id: str) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(Payment.order_id == uuid.UUID(order_id)))
    return int(count or 0)


async def test_a_retried_action_gets_the_first_attempts_outcome(stack_api: httpx.AsyncClient) -> None:
    """Cancel, succeed and ship are strict (a repeat is refused), but not a retry of the same request (its answer
    was lost, e.g. to a 503): Temporal deduplicates the update the key names and the retry gets its outcome."""
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    created = await api.post(
        "/api/payments", json={"orderId": order["id"], "amountMinor": 6900, "currency": "USD", "provider": "Manual"}
    )
    payment = created.json()
    succeed = key()
    for _ in range(2):
        paid = ok(await api.post(f"/api/payments/{payment['id']}/succeed", json={}, headers=succeed))
        assert paid["status"] == "Succeeded"
    refused(await api.post(f"/api/payments/{payment['id']}/succeed", json={}), 400, "payment_not_pending")
    refused(
        await api.post(f"/api/payments/{payment['id']}/succeed", json={}, headers=key()), 400, "payment_not_pending"
    )

    shipment = (await api.post("/api/shipments", json={"orderId": order["id"]})).json()
    ship = key()
    for _ in range(2):
        shipped = ok(await api.post(f"/api/shipments/{shipment['id']}/ship", json={}, headers=ship))
        assert shipped["status"] == "Shipped"
    refused(await api.post(f"/api/shipments/{shipment['id']}/ship", json={}), 400, "shipment_cannot_be_shipped")

    before = await stock(api, "NOTE-A5")
    other = await place(api, (NOTE_A5, 1))
    cancel = key()
    for _ in range(2):  # the run ends with the first cancel: Temporal still answers the same update id
        assert (ok(await api.post(f"/api/orders/{other['id']}/cancel", headers=cancel)))["status"] == "Cancelled"
    refused(await api.post(f"/api/orders/{other['id']}/cancel"), 400, "order_cannot_be_cancelled")
    refused(await api.post(f"/api/orders/{other['id']}/cancel", headers=key()), 400, "order_cannot_be_cancelled")
    assert_reveals_nothing(await api.post(f"/api/orders/{order['id']}/cancel", headers=cancel))
    assert await stock(api, "NOTE-A5") == before
