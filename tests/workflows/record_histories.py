"""Record the histories that `test_replay.py` replays: `python -m tests.workflows.record_histories`.

The scenarios run on the time-skipping server with the stand-in activities, so recording needs no database. Until
the first release no run is in flight anywhere: a change to the workflow's commands re-records every history
(and commits the JSON files). From the first release on, a recorded history stands for runs in flight and is
re-recorded only as docs/deploy.md's versioning policy allows. Name scenarios to record only those
(`python -m tests.workflows.record_histories shipped_by_its_shipment`), e.g. a new one.
"""

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from contracts.order import CancelOrder, MarkPaid, MarkShipped, OrderOutcome, OrderStatus, PaymentFailed
from tests.environment import TIME_SKIPPING, temporal_environment
from tests.eventually import assert_eventually
from tests.orders import order_input
from tests.workflows.fakes import FakeWorld, placed
from workflows.order import OrderWorkflow, workflow_id

HISTORIES = Path(__file__).parent / "histories"
TASK_QUEUE = "record-histories"

Handle = WorkflowHandle[OrderWorkflow, OrderOutcome]


async def _start(client: Client, world: FakeWorld, quantity: int = 1) -> Handle:
    variant = world.add_product(f"SKU-{uuid.uuid4().hex[:6]}", stock=5)
    order_id = uuid.uuid4()
    return await client.start_workflow(
        OrderWorkflow.run,
        order_input(order_id, (variant.product_variant_id, quantity), payment_timeout_seconds=900),
        id=workflow_id(order_id),
        task_queue=TASK_QUEUE,
    )


async def shipped(client: Client, world: FakeWorld) -> Handle:
    handle = await _start(client, world)
    await placed(handle)
    await handle.signal(OrderWorkflow.payment_failed, PaymentFailed(payment_id=uuid.uuid4()))
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped(shipment_id=uuid.uuid4()))
    return handle


async def cancelled_after_payment(client: Client, world: FakeWorld) -> Handle:
    handle = await _start(client, world)
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    await handle.execute_update(OrderWorkflow.cancel, CancelOrder())
    return handle


async def expired(client: Client, world: FakeWorld) -> Handle:
    handle = await _start(client, world)
    await placed(handle)
    return handle  # the payment timer fires while the result is awaited


async def rejected(client: Client, world: FakeWorld) -> Handle:
    handle = await _start(client, world, quantity=50)
    try:
        await placed(handle)
    except Exception:  # noqa: BLE001 - the refusal (insufficient_stock) is the scenario
        pass
    return handle


async def signalled_through(client: Client, world: FakeWorld) -> Handle:
    handle = await _start(client, world)
    await placed(handle)
    await handle.signal(OrderWorkflow.payment_succeeded, MarkPaid(payment_id=uuid.uuid4()))
    await handle.signal(OrderWorkflow.shipment_shipped, MarkShipped())
    return handle


async def paid_then_cancelled(client: Client, world: FakeWorld) -> Handle:
    """Two lines paid, a failed payment signalled, then cancelled: refund, release by keys, Cancelled first."""
    handle = await _start(client, world, quantity=2)
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    await handle.signal(OrderWorkflow.payment_failed, PaymentFailed(payment_id=uuid.uuid4()))
    await handle.execute_update(OrderWorkflow.cancel, CancelOrder())
    return handle


async def shipped_by_its_shipment(client: Client, world: FakeWorld) -> Handle:
    """The shipment is claimed before the stock is committed."""
    handle = await _start(client, world)
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped(shipment_id=uuid.uuid4()))
    return handle


async def _status_is(handle: Handle, status: OrderStatus) -> None:
    order = await handle.query(OrderWorkflow.details)
    assert order is not None and order.status is status


async def authorized_then_shipped(client: Client, world: FakeWorld) -> Handle:
    """A provider's authorization of the exact total pays the order; shipping captures it."""
    handle = await _start(client, world, quantity=2)
    await placed(handle)
    payment_id = uuid.uuid4()
    world.authorize(payment_id, 2 * 1000)
    await handle.signal(OrderWorkflow.payment_succeeded, MarkPaid(payment_id=payment_id, authorized=True))
    await assert_eventually(lambda: _status_is(handle, OrderStatus.PAID))
    await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped(shipment_id=uuid.uuid4()))
    return handle


async def authorization_lapsed(client: Client, world: FakeWorld) -> Handle:
    """Paid by an authorization, not shipped before it would lapse: the order is cancelled, the payment voided."""
    handle = await _start(client, world)
    await placed(handle)
    payment_id = uuid.uuid4()
    world.authorize(payment_id, 1000)
    await handle.signal(OrderWorkflow.payment_succeeded, MarkPaid(payment_id=payment_id, authorized=True))
    return handle  # the authorization's timer fires while the result is awaited


# Their timer (the 15-minute payment, the 7-day authorization) ends them on the time-skipping server; on a dev
# server they stay open.
OPEN_ON_A_DEV_SERVER = {"expired", "authorization_lapsed"}

SCENARIOS: dict[str, Callable[[Client, FakeWorld], Awaitable[Handle]]] = {
    "shipped": shipped,
    "cancelled_after_payment": cancelled_after_payment,
    "expired": expired,
    "rejected": rejected,
    "signalled_through": signalled_through,
    "paid_then_cancelled": paid_then_cancelled,
    "shipped_by_its_shipment": shipped_by_its_shipment,
    "authorized_then_shipped": authorized_then_shipped,
    "authorization_lapsed": authorization_lapsed,
}


async def main(names: list[str]) -> None:
    async with temporal_environment(TIME_SKIPPING) as env:  # registers the search attributes
        world = FakeWorld()
        async with Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=[OrderWorkflow],
            activities=world.activities(),
        ):
            for name, scenario in SCENARIOS.items():
                if names and name not in names:
                    continue
                handle = await scenario(env.client, world)
                await handle.result()
                history = await handle.fetch_history()
                (HISTORIES / f"{name}.json").write_text(history.to_json())
                print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    unknown = set(sys.argv[1:]) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {sorted(unknown)}; known: {sorted(SCENARIOS)}")
    asyncio.run(main(sys.argv[1:]))
