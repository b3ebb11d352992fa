"""Issue 11, items 4-5, on the time-skipping server with stand-in activities: a history that grows long continues
as new with the whole order, and every step that takes something is given back whatever interrupts it."""

import asyncio
import contextlib
import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError

from contracts.activities import FulfillmentSteps, InventorySteps, OrderingSteps, PaymentSteps, activity_name
from contracts.order import CancelOrder, MarkPaid, MarkShipped, OrderOutcome, OrderStatus, PaymentFailed
from tests.workflows.fakes import placed
from tests.workflows.harness import Harness, refusal_code
from workflows.order import OrderWorkflow

# Stand-in for Temporal's suggestion (thousands of events): a placed order that was paid is past it, a fresh
# continuation is not.
SHORT_HISTORY = 20
POLL = 0.05
PATIENCE = 30.0  # seconds: a bound on waiting for the server, not an assertion on timing


@pytest.fixture
def short_histories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporal suggests continue-as-new once a run's history is longer than SHORT_HISTORY events."""
    monkeypatch.setattr(
        workflow.Info,
        "is_continue_as_new_suggested",
        lambda info: info.get_current_history_length() > SHORT_HISTORY,
    )


async def continued(handle: WorkflowHandle[OrderWorkflow, OrderOutcome]) -> str:
    """The run id of the order's latest run, once its first run has continued as new."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        latest = await handle.describe()
        if latest.run_id != handle.first_execution_run_id and latest.status is WorkflowExecutionStatus.RUNNING:
            return latest.run_id
        assert asyncio.get_running_loop().time() < deadline, "the run never continued as new"
        await asyncio.sleep(POLL)


async def history_shows(handle: WorkflowHandle[OrderWorkflow, OrderOutcome], event_type: EventType.ValueType) -> None:
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while not any(event.event_type == event_type for event in (await handle.fetch_history()).events):
        assert asyncio.get_running_loop().time() < deadline, f"no {EventType.Name(event_type)} in the history"
        await asyncio.sleep(POLL)


@pytest.mark.usefixtures("short_histories")
async def test_a_long_history_continues_as_new_with_the_whole_order(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    order = await placed(handle)
    await handle.signal(OrderWorkflow.payment_failed, PaymentFailed(payment_id=uuid.uuid4()))
    payment_id = uuid.uuid4()
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=payment_id))

    await continued(handle)

    state = await handle.query(OrderWorkflow.state)
    assert state.details == (await placed(handle)) and state.details is not None
    assert state.details.status is OrderStatus.PAID
    assert state.payment_failures == 1
    assert state.compensations_pending == ["refund payments", "release stock"]
    # the continuation gives back what the first run took
    cancelled = await handle.execute_update(OrderWorkflow.cancel, CancelOrder())
    assert cancelled.status is OrderStatus.CANCELLED
    assert (await handle.result()).status is OrderStatus.CANCELLED
    assert harness.world.payments[payment_id] == "Refunded"
    assert harness.world.reserved("Active") == 0 and harness.world.available["ARM-BLK"] == 5
    assert harness.world.orders[order.id].status is OrderStatus.CANCELLED
    assert harness.world.calls.count(activity_name(InventorySteps.allocate)) == 1


@pytest.mark.usefixtures("short_histories")
async def test_an_unpaid_order_continued_as_new_keeps_its_payment_deadline(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    deadline = (await handle.query(OrderWorkflow.state)).payment_deadline
    assert deadline is not None
    for _ in range(4):  # signals that change nothing still grow the history
        await handle.signal(OrderWorkflow.payment_failed, PaymentFailed(payment_id=uuid.uuid4()))

    await continued(handle)

    state = await handle.query(OrderWorkflow.state)
    assert state.payment_deadline == deadline and state.payment_failures == 4
    assert (await handle.result()).status is OrderStatus.EXPIRED  # the carried timer fires
    assert harness.world.reserved("Active") == 0 and harness.world.available["ARM-BLK"] == 5


async def test_an_allocation_whose_answer_was_lost_is_released_when_placing_gives_up(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    harness.world.lost.add(activity_name(InventorySteps.allocate))
    handle = await harness.start((arm.product_variant_id, 2), placement_attempts=3)

    outcome = await handle.result()

    assert outcome.rejection is not None and outcome.rejection.code == "order_placement_failed"
    assert harness.world.reserved("Active") == 0
    assert harness.world.reserved("Released") == 2 and harness.world.available["ARM-BLK"] == 5
    assert (await handle.query(OrderWorkflow.state)).compensations_run == ["release stock"]


async def test_a_cancelled_shipment_is_not_shipped_and_its_order_stays_paid(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    shipment_id = uuid.uuid4()
    harness.world.shipments[shipment_id] = "Cancelled"  # an operator cancelled it as it was being shipped

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped(shipment_id=shipment_id))

    assert refusal_code(refused.value) == "shipment_cannot_be_shipped"
    assert (await handle.query(OrderWorkflow.state)).phase == "Paid"
    assert harness.world.reserved("Committed") == 0 and harness.world.reserved("Active") == 1
    assert activity_name(InventorySteps.commit) not in harness.world.calls


async def test_cancel_records_cancelled_before_it_drops_pending_payments_and_shipments(harness: Harness) -> None:
    # A shipment created concurrently reads the order's status under a row lock: either it committed before the
    # Cancelled status, and is dropped by the steps after it, or it sees Cancelled and is refused.
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))

    await handle.execute_update(OrderWorkflow.cancel, CancelOrder())

    assert harness.world.calls[-3:] == [
        activity_name(OrderingSteps.record_status),
        activity_name(PaymentSteps.cancel_pending),
        activity_name(FulfillmentSteps.cancel_pending),
    ]


async def test_a_run_cancelled_while_a_payment_succeeds_waits_for_it_and_refunds_it(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    order = await placed(handle)
    started, go_on = harness.world.hold(activity_name(PaymentSteps.mark_succeeded))
    payment_id = uuid.uuid4()
    paying = asyncio.create_task(handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=payment_id)))
    await started.wait()

    await handle.cancel()  # an operator cancels the run from Temporal Web while the payment is being taken
    await history_shows(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
    go_on.set()  # the provider's answer comes in after the cancel: the payment succeeded

    with pytest.raises(WorkflowFailureError):
        await handle.result()
    with contextlib.suppress(WorkflowUpdateFailedError):
        await paying
    assert harness.world.payments[payment_id] == "Refunded"
    assert harness.world.orders[order.id].status is OrderStatus.CANCELLED
    assert harness.world.reserved("Active") == 0 and harness.world.available["ARM-BLK"] == 5
