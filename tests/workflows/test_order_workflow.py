"""The order lifecycle on the time-skipping server, with stand-in activities that isolate the workflow's logic."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.order_workflows import unchanged_order
from contracts.activities import InventorySteps, OrderingSteps, PaymentSteps, activity_name
from contracts.order import (
    CancelOrder,
    ExpireOrder,
    MarkPaid,
    MarkShipped,
    OrderStatus,
    PaymentFailed,
)
from tests.orders import order_input
from tests.workflows.fakes import placed
from tests.workflows.harness import Harness, refusal_code
from workflows.order import OrderWorkflow, workflow_id


async def test_placing_reserves_every_line_and_records_a_pending_order(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    note = harness.world.add_product("NOTE-A5", stock=5, price=1200)
    handle = await harness.start((arm.product_variant_id, 2), (note.product_variant_id, 3))

    order = await placed(handle)

    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.total_amount_minor == 2 * 6900 + 3 * 1200
    assert [item.sku for item in order.items] == ["ARM-BLK", "NOTE-A5"]
    assert all(item.inventory_reservation_id in harness.world.reservations for item in order.items)
    assert harness.world.reserved() == 5
    assert harness.world.orders[order.id].status is OrderStatus.PENDING_PAYMENT


async def test_cancel_releases_every_reservation(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    await placed(handle)

    order = await handle.execute_update(OrderWorkflow.cancel, CancelOrder())

    assert order.status is OrderStatus.CANCELLED
    assert harness.world.reserved("Released") == 2
    assert harness.world.available["ARM-BLK"] == 5
    assert (await handle.result()).status is OrderStatus.CANCELLED
    with pytest.raises(RPCError):  # the run is over: a finished order is answered by the API from the store
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder())


async def test_payment_success_marks_paid_and_keeps_the_stock_reserved(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    payment_id = uuid.uuid4()

    order = await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=payment_id))

    assert order.status is OrderStatus.PAID
    assert harness.world.payments[payment_id] == "Succeeded"
    assert harness.world.reserved("Active") == 1
    assert activity_name(InventorySteps.commit) not in harness.world.calls
    with pytest.raises(WorkflowUpdateFailedError) as unchanged:  # idempotent: rejected, so not in the history
        await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid())
    again = unchanged_order(unchanged.value)  # the API answers 200 with it
    assert again is not None and again.status is OrderStatus.PAID


async def test_payment_failure_then_success(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)

    await handle.signal(OrderWorkflow.payment_failed, PaymentFailed(payment_id=uuid.uuid4(), failure_reason="declined"))
    state = await handle.query(OrderWorkflow.state)
    assert state.phase == "PendingPayment"
    assert state.payment_failures == 1
    assert harness.world.reserved("Active") == 1

    order = await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    assert order.status is OrderStatus.PAID


async def test_shipment_commits_every_reservation_once_and_finishes_the_run(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))
    shipment_id = uuid.uuid4()

    order = await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped(shipment_id=shipment_id))

    assert order.status is OrderStatus.SHIPPED
    assert harness.world.reserved("Committed") == 2
    assert harness.world.calls.count(activity_name(InventorySteps.commit)) == 1
    assert harness.world.shipments[shipment_id] == "Shipped"
    assert (await handle.result()).status is OrderStatus.SHIPPED


async def test_mark_shipped_before_payment_is_refused(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped())
    assert refusal_code(refused.value) == "order_cannot_be_marked_shipped"
    assert (await handle.query(OrderWorkflow.details)).status is OrderStatus.PENDING_PAYMENT  # type: ignore[union-attr]


async def test_payment_timeout_expires_the_order_and_releases_stock(
    harness: Harness, time_skipping_env: WorkflowEnvironment
) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 3))
    await placed(handle)
    assert harness.world.reserved("Active") == 3

    outcome = await handle.result()  # the 15-minute timer is skipped by the test server

    assert outcome.status is OrderStatus.EXPIRED
    assert harness.world.reserved("Released") == 3
    assert harness.world.available["ARM-BLK"] == 5
    assert activity_name(PaymentSteps.cancel_pending) in harness.world.calls
    assert harness.world.orders[outcome.order_id].status is OrderStatus.EXPIRED


async def test_operator_expire_is_idempotent_until_the_run_ends(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)

    order = await handle.execute_update(OrderWorkflow.expire, ExpireOrder())
    assert order.status is OrderStatus.EXPIRED
    assert harness.world.calls.count(activity_name(InventorySteps.release_by_keys)) == 1


LOCAL_ACTIVITY = "core_local_activity"  # the marker name sdk-core records a local activity's result under


def steps_after(history: WorkflowHistory, event_type: EventType.ValueType) -> list[str]:
    """The steps that follow the last `event_type` in `history`: "activity" for an ordinary activity scheduled,
    "local" for a local activity's recorded result."""
    events = list(history.events)
    last = max(n for n, event in enumerate(events) if event.event_type == event_type)
    steps = []
    for event in events[last + 1 :]:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            steps.append("activity")
        elif event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY:
            steps.append("local")
    return steps


async def test_a_payment_timeout_runs_every_expiry_step_in_the_worker(harness: Harness) -> None:
    """The fired timer is in the history before any step runs: nothing has to be made durable first."""
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    await placed(handle)

    assert (await handle.result()).status is OrderStatus.EXPIRED

    # release by keys, cancel pending payments, record Expired
    assert steps_after(await handle.fetch_history(), EventType.EVENT_TYPE_TIMER_FIRED) == ["local"] * 3
    assert harness.world.reserved("Released") == 2


async def test_an_operator_expiry_runs_its_first_step_as_an_ordinary_activity(harness: Harness) -> None:
    """The durability rule for updates: the accepted update is in the history before a step commits anything."""
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)

    await handle.execute_update(OrderWorkflow.expire, ExpireOrder())

    # the last update accepted is the expiry (placing's wait_placed may be in the history before it)
    steps = steps_after(await handle.fetch_history(), EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert steps == ["activity", "local", "local"]  # release by keys; cancel pending payments, record Expired


async def test_insufficient_stock_refuses_the_order_and_leaves_nothing_reserved(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    note = harness.world.add_product("NOTE-A5", stock=1)
    handle = await harness.start((arm.product_variant_id, 2), (note.product_variant_id, 2))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await placed(handle)

    assert refusal_code(refused.value) == "insufficient_stock"
    assert harness.world.reserved("Active") == 0
    outcome = await handle.result()
    assert outcome.status is None
    assert outcome.rejection is not None and outcome.rejection.code == "insufficient_stock"
    assert not harness.world.orders


async def test_a_failure_after_reserving_releases_the_reservations(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    harness.world.fail[activity_name(OrderingSteps.record_order)] = "order_record_refused"
    handle = await harness.start((arm.product_variant_id, 2))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await placed(handle)

    assert refusal_code(refused.value) == "order_record_refused"
    assert harness.world.reserved("Active") == 0
    assert harness.world.reserved("Released") == 2
    state = await handle.query(OrderWorkflow.state)
    assert state.compensations_run == ["void order", "release stock"]


async def test_placing_gives_up_after_its_attempts_and_gives_everything_back(harness: Harness) -> None:
    # Recording keeps failing for a reason that is not a refusal (a bug, a long outage): retried, then given up;
    # the order is voided (an attempt may have committed) and the stock released. Local activities wait between
    # attempts in the worker, on the wall clock: three attempts keep this quick.
    arm = harness.world.add_product("ARM-BLK", stock=5)
    harness.world.broken.add(activity_name(OrderingSteps.record_order))
    handle = await harness.start((arm.product_variant_id, 2), placement_attempts=3)

    outcome = await handle.result()

    assert outcome.status is None and outcome.rejection is not None
    assert outcome.rejection.code == "order_placement_failed"
    assert harness.world.calls.count(activity_name(OrderingSteps.record_order)) == 3
    assert harness.world.reserved("Active") == 0
    assert harness.world.reserved("Released") == 2
    assert (await handle.query(OrderWorkflow.state)).compensations_run == ["void order", "release stock"]


@pytest.mark.parametrize(
    ("prices", "code"),
    [((("USD", 100), ("EUR", 100)), "mixed_currencies_not_supported")],
)
async def test_mixed_currencies_are_refused_before_anything_is_reserved(
    harness: Harness, prices: tuple[tuple[str, int], ...], code: str
) -> None:
    lines = [
        (harness.world.add_product(f"SKU-{n}", stock=5, price=p, currency=c).product_variant_id, 1)
        for n, (c, p) in enumerate(prices)
    ]
    handle = await harness.start(*lines)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await placed(handle)
    assert refusal_code(refused.value) == code
    assert activity_name(InventorySteps.allocate) not in harness.world.calls


async def test_unknown_variant_is_refused(harness: Harness) -> None:
    handle = await harness.start((uuid.uuid4(), 1))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await placed(handle)
    assert refusal_code(refused.value) == "catalog_variant_snapshot_not_found"


async def test_cancel_after_payment_refunds_and_releases_in_reverse(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    await placed(handle)
    payment_id = uuid.uuid4()
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=payment_id))

    order = await handle.execute_update(OrderWorkflow.cancel, CancelOrder())

    assert order.status is OrderStatus.CANCELLED
    assert harness.world.payments[payment_id] == "Refunded"
    assert harness.world.reserved("Released") == 2
    calls = harness.world.calls
    assert calls.index(activity_name(PaymentSteps.refund)) < calls.index(activity_name(InventorySteps.release_by_keys))


async def test_duplicate_submit_joins_the_running_order(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    first = await harness.start((arm.product_variant_id, 1))
    order = await placed(first)

    again = await harness.client.start_workflow(
        OrderWorkflow.run,
        order_input(order.id, (arm.product_variant_id, 1), payment_timeout_seconds=900),
        id=workflow_id(order.id),
        task_queue=harness.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )

    assert again.result_run_id == first.result_run_id
    assert (await placed(again)).id == order.id
    assert harness.world.calls.count(activity_name(InventorySteps.allocate)) == 1
    assert harness.world.reserved("Active") == 1


async def test_cancel_after_shipment_is_refused_while_the_run_is_open(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid())
    # Queue the cancel behind the shipment: both are served in order, the cancel after the order shipped.
    await handle.signal(OrderWorkflow.shipment_shipped, MarkShipped())
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder())
    assert refusal_code(refused.value) == "order_cannot_be_cancelled"
    assert (await handle.result()).status is OrderStatus.SHIPPED
    assert harness.world.reserved("Committed") == 1


async def test_cancelling_the_run_from_temporal_cancels_the_order_and_gives_everything_back(
    harness: Harness,
) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 2))
    order = await placed(handle)
    payment_id = uuid.uuid4()
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=payment_id))

    await handle.cancel()  # an operator cancels the run, e.g. from Temporal Web
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    assert harness.world.orders[order.id].status is OrderStatus.CANCELLED
    assert harness.world.payments[payment_id] == "Refunded"
    assert harness.world.reserved("Active") == 0
    assert harness.world.available["ARM-BLK"] == 5
