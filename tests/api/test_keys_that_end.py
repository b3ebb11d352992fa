"""Keys that cost nothing to strangers and never bring a finished order back (issue 22, items 3, 4 and 7), over
REST on real PostgreSQL, a real Temporal dev server and the worker of worker.py."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from services.ordering.models import IdempotencyKey
from stack.settings import Settings
from tests.demo import ARM_BLK
from tests.http import ok, place, refused, stock
from tests.orders import order_input
from workflows.order import OrderWorkflow, workflow_id


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _keys(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


async def test_keyed_actions_on_made_up_ids_store_no_claim(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A stranger's keyed cancels, payment settles and shipments on random ids leave the key table as it was."""
    api = stack_api
    before = await _keys(sessionmaker)

    async def cancel() -> None:
        refused(await api.post(f"/api/orders/{uuid.uuid4()}/cancel", headers=key()), 400, "order_not_found")

    for _ in range(5):
        await asyncio.gather(*(cancel() for _ in range(20)))
    missing_payment = await api.post(f"/api/payments/{uuid.uuid4()}/succeed", json={}, headers=key())
    missing_shipment = await api.post(f"/api/shipments/{uuid.uuid4()}/ship", json={}, headers=key())
    assert missing_payment.status_code in (400, 404) and missing_shipment.status_code in (400, 404)

    assert await _keys(sessionmaker) == before
    # a key whose order exists is kept: its retry is still recognised
    order = await place(api, (ARM_BLK, 1))
    cancel_key = key()
    for _ in range(2):
        assert ok(await api.post(f"/api/orders/{order['id']}/cancel", headers=cancel_key))["status"] == "Cancelled"
    assert await _keys(sessionmaker) == before + 1


async def _forget_run(env: WorkflowEnvironment, order_id: str) -> None:
    """What Temporal's retention does to a finished run: delete it, and wait until it is gone."""
    client = env.client
    execution = WorkflowExecution(workflow_id=workflow_id(uuid.UUID(order_id)))
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=client.namespace, workflow_execution=execution)
    )
    for _ in range(600):  # the server deletes in the background
        try:
            await client.get_workflow_handle(execution.workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        await asyncio.sleep(0.1)
    raise AssertionError("the run was not deleted")


async def test_a_key_never_revives_a_finished_order_whose_run_temporal_forgot(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """A retry of the keyed placement of a Shipped order whose run retention dropped answers with the order and
    starts nothing: its stock is not taken again and nothing can cancel or expire it."""
    api = stack_api
    headers = key()
    order = await place(api, (ARM_BLK, 1), headers=headers)
    ok(await api.post(f"/api/orders/{order['id']}/mark-paid"))
    assert ok(await api.post(f"/api/orders/{order['id']}/mark-shipped"))["status"] == "Shipped"
    await _forget_run(dev_env, order["id"])
    before = await stock(api, "ARM-BLK")

    again = await api.post("/api/orders", json=_order_body(), headers=headers)

    assert again.status_code == 201, again.text
    assert again.json()["id"] == order["id"] and again.json()["status"] == "Shipped"
    with pytest.raises(RPCError):  # no run was started under the order's id
        await dev_env.client.get_workflow_handle(workflow_id(uuid.UUID(order["id"]))).describe()
    assert await stock(api, "ARM-BLK") == before
    refused(await api.post(f"/api/orders/{order['id']}/cancel"), 400, "order_cannot_be_cancelled")
    refused(await api.post(f"/api/orders/{order['id']}/expire"), 400, "order_cannot_be_expired")
    assert ok(await api.get(f"/api/orders/{order['id']}"))["status"] == "Shipped"


async def test_a_run_started_under_a_finished_orders_id_places_nothing(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment, order_settings: Settings
) -> None:
    """However a second run comes to start under a recorded order's id, it is refused when it records the order
    (its own placement's lines are not the order's), gives back what it took and leaves the order as it was."""
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    ok(await api.post(f"/api/orders/{order['id']}/mark-paid"))
    ok(await api.post(f"/api/orders/{order['id']}/mark-shipped"))
    before = await stock(api, "ARM-BLK")

    outcome = await dev_env.client.execute_workflow(  # a new run under a closed run's id is allowed by default
        OrderWorkflow.run,
        order_input(uuid.UUID(order["id"]), (uuid.UUID(ARM_BLK), 1)),
        id=workflow_id(uuid.UUID(order["id"])),
        task_queue=order_settings.temporal_task_queue,
    )

    assert outcome.status is None and outcome.rejection is not None
    assert outcome.rejection.code == "order_already_placed"
    assert await stock(api, "ARM-BLK") == before
    assert ok(await api.get(f"/api/orders/{order['id']}"))["status"] == "Shipped"


def _order_body() -> dict[str, object]:
    return {
        "customerName": "Ada Lovelace",
        "customerEmail": "ada@example.com",
        "items": [{"productVariantId": ARM_BLK, "quantity": 1}],
    }


async def test_a_checkout_refused_for_stock_goes_through_once_the_stock_is_back(stack_api: httpx.AsyncClient) -> None:
    """The implicit key of a checkout (the cart and its last change) is not bound to a refusal: the same cart
    checks out once the stock it lacked is there, without being touched."""
    api = stack_api
    on_hand, reserved = await stock(api, "ARM-BLK")
    hoard = ok(
        await api.post(
            "/api/stock/reservations/allocate",
            json={"sku": "ARM-BLK", "quantity": on_hand - reserved - 1, "reference": "hoard"},
        ),
        201,
    )
    cart: str = ok(await api.post("/api/carts"), 201)["id"]
    ok(await api.post(f"/api/carts/{cart}/items", json={"productVariantId": ARM_BLK, "quantity": 2}))
    body = {"customerName": "Ada", "customerEmail": "ada@example.com"}

    refused(await api.post(f"/api/carts/{cart}/checkout", json=body), 400, "insufficient_stock")
    refused(await api.post(f"/api/carts/{cart}/checkout", json=body), 400, "insufficient_stock")
    ok(await api.post(f"/api/stock/reservations/{hoard['id']}/release"))
    order = ok(await api.post(f"/api/carts/{cart}/checkout", json=body), 201)

    assert order["status"] == "PendingPayment" and [item["quantity"] for item in order["items"]] == [2]
    assert ok(await api.get(f"/api/carts/{cart}"))["items"] == []


@pytest.fixture
def short_histories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporal suggests continue-as-new once a run's history is longer than 20 events (a paid order's is)."""
    monkeypatch.setattr(
        workflow.Info, "is_continue_as_new_suggested", lambda info: info.get_current_history_length() > 20
    )


@pytest.mark.usefixtures("short_histories")
async def test_a_keyed_retry_after_the_run_continued_as_new_gets_the_first_attempts_outcome(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """The run that settled the payment is gone (continued as new) and Temporal's new run does not know the key's
    update: the retry still answers 200 with the settled payment, and a new request is still refused."""
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    payment = ok(
        await api.post(
            "/api/payments",
            json={"orderId": order["id"], "amountMinor": 6900, "currency": "USD", "provider": "Manual"},
        ),
        201,
    )
    succeed = key()
    assert ok(await api.post(f"/api/payments/{payment['id']}/succeed", json={}, headers=succeed))["status"] == (
        "Succeeded"
    )
    handle = dev_env.client.get_workflow_handle(workflow_id(uuid.UUID(order["id"])))
    for _ in range(300):
        started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
        if started.continued_execution_run_id:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the run never continued as new")

    again = ok(await api.post(f"/api/payments/{payment['id']}/succeed", json={}, headers=succeed))

    assert again["status"] == "Succeeded" and again["id"] == payment["id"]
    refused(
        await api.post(f"/api/payments/{payment['id']}/succeed", json={}, headers=key()), 400, "payment_not_pending"
    )
