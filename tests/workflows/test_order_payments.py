"""The lifecycle with a provider's money in it, on the time-skipping server, with stand-in activities: an
authorization is a hint the run re-reads; only the order's exact total pays it; anything else is voided;
shipping captures; cancel voids or refunds; an authorization about to lapse cancels the order."""

import uuid
from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from contracts.activities import InventorySteps, PaymentSteps, activity_name
from contracts.order import CancelOrder, MarkPaid, MarkShipped, OrderDetails, OrderOutcome, OrderStatus
from tests.eventually import assert_eventually
from tests.workflows.fakes import placed
from tests.workflows.harness import Harness
from workflows.order import OrderWorkflow


async def _authorized(
    harness: Harness, handle: WorkflowHandle[OrderWorkflow, OrderOutcome], amount: int
) -> tuple[uuid.UUID, OrderDetails]:
    """The customer's card authorized for `amount` at the provider, and the order's run told (as a webhook does)."""
    payment_id = uuid.uuid4()
    harness.world.authorize(payment_id, amount)
    await handle.signal(OrderWorkflow.payment_succeeded, MarkPaid(payment_id=payment_id, authorized=True))

    async def secured() -> OrderDetails:
        assert activity_name(PaymentSteps.secure) in harness.world.calls
        assert harness.world.payments[payment_id] != "Pending"
        order = await handle.query(OrderWorkflow.details)
        assert order is not None
        return order

    return payment_id, await assert_eventually(secured)


async def test_an_authorization_of_the_exact_total_pays_and_shipping_captures_it(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    handle = await harness.start((arm.product_variant_id, 2))
    await placed(handle)

    payment_id, order = await _authorized(harness, handle, 2 * 6900)
    assert order.status is OrderStatus.PAID
    assert harness.world.intent_status(payment_id) == "requires_capture"  # held, not taken, until it ships

    shipped = await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped())

    assert shipped.status is OrderStatus.SHIPPED
    assert harness.world.intent_status(payment_id) == "succeeded"
    calls = harness.world.calls
    assert calls.index(activity_name(PaymentSteps.capture)) < calls.index(activity_name(InventorySteps.commit))


async def test_an_authorization_of_another_amount_is_voided_and_the_order_keeps_waiting(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)

    payment_id, order = await _authorized(harness, handle, 100)

    assert order.status is OrderStatus.PENDING_PAYMENT
    assert harness.world.intent_status(payment_id) == "canceled"
    assert harness.world.payments[payment_id] == "Cancelled"
    assert (await handle.query(OrderWorkflow.state)).compensations_pending == ["release stock"]


async def test_a_second_authorization_of_a_paid_order_is_voided(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    first, _ = await _authorized(harness, handle, 6900)

    second, order = await _authorized(harness, handle, 6900)

    assert order.status is OrderStatus.PAID
    assert harness.world.intent_status(first) == "requires_capture"
    assert harness.world.intent_status(second) == "canceled"


async def test_the_same_authorization_told_twice_pays_once(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    payment_id, _ = await _authorized(harness, handle, 6900)

    await handle.signal(OrderWorkflow.payment_succeeded, MarkPaid(payment_id=payment_id, authorized=True))
    shipped = await handle.execute_update(OrderWorkflow.mark_shipped, MarkShipped())  # served after the repeat

    assert shipped.status is OrderStatus.SHIPPED
    assert harness.world.intent_status(payment_id) == "succeeded"
    assert harness.world.payments[payment_id] == "Succeeded"


async def test_cancelling_an_authorized_order_voids_its_payment(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    payment_id, _ = await _authorized(harness, handle, 6900)

    order = await handle.execute_update(OrderWorkflow.cancel, CancelOrder())

    assert order.status is OrderStatus.CANCELLED
    assert harness.world.intent_status(payment_id) == "canceled"
    assert harness.world.payments[payment_id] == "Refunded"
    assert harness.world.reserved("Released") == 1


async def test_an_authorization_about_to_lapse_cancels_the_unshipped_order(harness: Harness) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5, price=6900)
    handle = await harness.start((arm.product_variant_id, 2))
    await placed(handle)
    payment_id, _ = await _authorized(harness, handle, 2 * 6900)

    outcome = await handle.result()  # the 7-day timer is skipped by the test server

    assert outcome.status is OrderStatus.CANCELLED
    assert harness.world.intent_status(payment_id) == "canceled"
    assert harness.world.reserved("Released") == 2
    assert harness.world.available["ARM-BLK"] == 5


async def test_a_manual_payment_has_no_authorization_to_lapse(
    harness: Harness, time_skipping_env: WorkflowEnvironment
) -> None:
    arm = harness.world.add_product("ARM-BLK", stock=5)
    handle = await harness.start((arm.product_variant_id, 1))
    await placed(handle)
    await handle.execute_update(OrderWorkflow.mark_paid, MarkPaid(payment_id=uuid.uuid4()))

    await time_skipping_env.sleep(timedelta(days=30))

    assert (await handle.query(OrderWorkflow.state)).phase == "Paid"
    assert activity_name(PaymentSteps.secure) not in harness.world.calls
