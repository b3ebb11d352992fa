"""Payment drills: the money lifecycle on the system as separate processes (tooling/processes.py) with its real
localstripe, each drill ending with the invariant check reading the provider too (tooling/invariants.py): per
order captured − refunded = the total if Shipped and 0 otherwise, no authorization left open on a closed order,
our ledger equal to the provider's.

localstripe delivers its own signed events to the API as it would in production; the drills add events signed
with the stack's secret as Stripe signs them (a redelivery, a late or out-of-order one), stop the provider, or
SIGKILL the worker at a chosen moment, held there by a row lock as in test_drills.py.
"""

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from services.payment.provider import IntentStatus, PaymentProvider, ProviderIntent
from services.payment.stripe_provider import LOCALSTRIPE_API_KEY
from tests.demo import ARM_BLK
from tests.e2e.drills import POLL_INTERVAL, stack_provider, wait_for_lock_waiter
from tests.e2e.processes import Stack
from tests.eventually import assert_eventually
from tests.http import Json, ok, order_status, place
from tests.provider import GOOD_CARD, authorized_elsewhere, confirm_with_card, intent_event, signed
from tooling.invariants import Expectations, InvariantReport, check_invariants, check_once
from workflows.order import workflow_id

pytestmark = pytest.mark.e2e

PAID_TIMEOUT = 30.0  # localstripe's own webhook, verified by the API, tells the workflow
CAPTURE_TIMEOUT = 30.0
OUTAGE_SECONDS = 30.0  # the provider is down this long while orders are shipped
# a capture retried after the outage: the activity's backoff reaches 10 s, and a SIGKILLed worker's attempt is
# retried only once its 30 s start-to-close timeout passes
RECOVERY_TIMEOUT = 60.0
SHIPPED_DURING_OUTAGE = 3


def _provider(stack: Stack) -> PaymentProvider:
    provider = stack_provider(stack)
    assert provider is not None, "the stack has no payment provider"
    return provider


async def _baseline(stack: Stack) -> InvariantReport:
    return await check_once(
        stack.database_url, stack.temporal_client, stack.task_queue, Expectations(), provider=_provider(stack)
    )


async def _check(stack: Stack, baseline: InvariantReport, statuses: dict[str, str]) -> InvariantReport:
    expected = Expectations(statuses={uuid.UUID(order_id): status for order_id, status in statuses.items()})
    report = await check_invariants(
        stack.database_url,
        stack.temporal_client,
        stack.task_queue,
        expected,
        baseline=baseline,
        settle_timeout=10.0,
        provider=_provider(stack),
    )
    print(f"[payment drill] invariants: {report.details()}")
    return report


async def _webhook(stack: Stack, http: httpx.AsyncClient, event: Json) -> Json:
    body, headers = signed(event, stack.stripe_webhook_secret)
    answer: Json = ok(await http.post("/api/webhooks/stripe", content=body, headers=headers))
    return answer


async def _intent(stack: Stack, payment: Json) -> ProviderIntent:
    return await _provider(stack).retrieve(payment["providerId"])


async def _until_status(http: httpx.AsyncClient, order: Json, status: str, timeout: float = PAID_TIMEOUT) -> None:
    async def reached() -> None:
        assert await order_status(http, order) == status

    await assert_eventually(reached, timeout=timeout)


async def _stripe_payment(http: httpx.AsyncClient, order: Json) -> Json:
    payment: Json = ok(await http.post("/api/payments", json={"orderId": order["id"], "provider": "Stripe"}), 201)
    return payment


async def _paid_order(stack: Stack, http: httpx.AsyncClient) -> tuple[Json, Json]:
    """An order paid by card: authorized at the provider, Paid through localstripe's own webhook."""
    order = await place(http, (ARM_BLK, 1))
    payment = await _stripe_payment(http, order)
    await confirm_with_card(stack.localstripe_url, payment["clientSecret"], GOOD_CARD)
    await _until_status(http, order, "Paid")
    return order, payment


async def _recorded(http: httpx.AsyncClient, order: Json) -> list[Json]:
    payments: list[Json] = ok(await http.get(f"/api/orders/{order['id']}/payments"))
    return payments


async def test_a_webhook_delivered_twice_has_one_effect(stack: Stack, http: httpx.AsyncClient) -> None:
    baseline = await _baseline(stack)
    order = await place(http, (ARM_BLK, 1))
    payment = await _stripe_payment(http, order)
    await confirm_with_card(stack.localstripe_url, payment["clientSecret"], GOOD_CARD)
    authorized = intent_event(payment["providerId"])
    first, again = await asyncio.gather(_webhook(stack, http, authorized), _webhook(stack, http, authorized))
    await _until_status(http, order, "Paid")
    ok(await http.post(f"/api/orders/{order['id']}/mark-shipped"))
    captured = intent_event(payment["providerId"], "payment_intent.succeeded")
    replays = [await _webhook(stack, http, captured) for _ in range(2)]

    assert sorted([first["duplicate"], again["duplicate"]]) == [False, True]  # one of two concurrent deliveries
    assert [replay["duplicate"] for replay in replays] == [False, True]
    intent = await _intent(stack, payment)
    assert (intent.status, intent.amount_received_minor) == (IntentStatus.SUCCEEDED, order["totalAmountMinor"])
    [recorded] = await _recorded(http, order)
    assert recorded["capturedMinor"] == order["totalAmountMinor"]
    assert (await _check(stack, baseline, {order["id"]: "Shipped"})).ok


async def test_webhooks_in_reverse_order_converge_to_the_providers_truth(stack: Stack, http: httpx.AsyncClient) -> None:
    """The capture's event before any authorization, a cancellation's event after the authorization, and the
    authorization's event after the order was cancelled and its intent voided: each is only a hint, the intent is
    re-read, so the order follows the provider's truth whatever the order of the events."""
    baseline = await _baseline(stack)
    order = await place(http, (ARM_BLK, 1))
    payment = await _stripe_payment(http, order)
    assert (await _webhook(stack, http, intent_event(payment["providerId"], "payment_intent.succeeded")))[
        "duplicate"
    ] is False
    assert await order_status(http, order) == "PendingPayment"  # the intent still waits for a card

    await confirm_with_card(stack.localstripe_url, payment["clientSecret"], GOOD_CARD)
    await _webhook(stack, http, intent_event(payment["providerId"], "payment_intent.canceled"))  # not so: re-read
    await _until_status(http, order, "Paid")
    ok(await http.post(f"/api/orders/{order['id']}/cancel"))
    await _webhook(stack, http, intent_event(payment["providerId"]))  # authorized: late news of an old state
    await _webhook(stack, http, intent_event(payment["providerId"], "charge.succeeded"))

    assert await order_status(http, order) == "Cancelled"
    assert (await _intent(stack, payment)).status is IntentStatus.CANCELED
    assert (await _check(stack, baseline, {order["id"]: "Cancelled"})).ok


async def test_a_payment_authorized_after_the_order_expired_is_voided(stack: Stack, http: httpx.AsyncClient) -> None:
    """The order expires, and while its expiry runs (held before it voids the intent, releasing the stock, by a row
    lock the test takes on the reservation) the customer's card authorizes the intent at the provider, and
    localstripe's webhook about it tells the workflow. The authorization is voided, nothing is captured or
    shipped, the order stays Expired, and a later event changes nothing."""
    baseline = await _baseline(stack)
    order = await place(http, (ARM_BLK, 1))
    payment = await _stripe_payment(http, order)
    conn = await asyncpg.connect(stack.dsn)
    try:
        lock = conn.transaction()
        await lock.start()
        await conn.execute(
            "SELECT 1 FROM inventory.stock_reservations r JOIN ordering.order_items i "
            "ON i.inventory_reservation_id = r.id WHERE i.order_id = $1 FOR UPDATE OF r",
            uuid.UUID(order["id"]),
        )
        expiring = asyncio.create_task(http.post(f"/api/orders/{order['id']}/expire"))
        await wait_for_lock_waiter(stack.dsn, "inventory.stock_reservations")  # the expiry releases the stock
        confirmed = await confirm_with_card(stack.localstripe_url, payment["clientSecret"], GOOD_CARD)
        # its news, answered once the workflow is told (localstripe's own delivery may come before or after)
        told = await _webhook(stack, http, intent_event(payment["providerId"]))
        await lock.rollback()
    finally:
        await conn.close()
    expired = await expiring
    await _until_status(http, order, "Expired")
    await _webhook(stack, http, intent_event(payment["providerId"]))  # late news of the authorization

    async def voided() -> None:
        assert (await _intent(stack, payment)).status is IntentStatus.CANCELED

    await assert_eventually(voided, timeout=PAID_TIMEOUT)
    [recorded] = await _recorded(http, order)
    shipments = [s for s in ok(await http.get("/api/shipments")) if s["orderId"] == order["id"]]
    history = stack.temporal_client.get_workflow_handle(workflow_id(uuid.UUID(order["id"]))).fetch_history_events()
    signals = [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in history
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    report = await _check(stack, baseline, {order["id"]: "Expired"})
    story = (
        f"authorized while the expiry ran: {confirmed['status']}; webhook {told}; signals {signals}; expire "
        f"answered {expired.status_code}; "
        f"payment {recorded['status']} captured {recorded['capturedMinor']}; shipments {shipments}; invariants: "
        f"{report.details()}"
    )
    print(f"[authorized after the order expired] {story}")
    assert confirmed["status"] == "requires_capture", story
    assert signals, story  # the workflow was told of the authorization while it expired the order
    assert await order_status(http, order) == "Expired", story
    assert (recorded["status"], recorded["capturedMinor"]) == ("Cancelled", 0), story
    assert not shipments, story
    assert report.ok, story


async def test_worker_sigkilled_between_the_capture_and_recording_it(stack: Stack, http: httpx.AsyncClient) -> None:
    """The ship action's capture reaches the provider, then recording it waits for a row lock the test holds on
    the payment; the worker is SIGKILLed there. The restarted worker finds the intent captured (success, no
    second capture), and the order ends Shipped with the ledger equal to the provider's."""
    baseline = await _baseline(stack)
    order, payment = await _paid_order(stack, http)
    conn = await asyncpg.connect(stack.dsn)
    try:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("SELECT 1 FROM payment.payments WHERE id = $1 FOR UPDATE", uuid.UUID(payment["id"]))
        shipping = asyncio.create_task(http.post(f"/api/orders/{order['id']}/mark-shipped"))

        async def captured() -> None:
            assert (await _intent(stack, payment)).status is IntentStatus.SUCCEEDED

        await assert_eventually(captured, timeout=CAPTURE_TIMEOUT, interval=POLL_INTERVAL)
        await wait_for_lock_waiter(stack.dsn, "payment.payments")  # recording the capture waits for the lock
        stored = await asyncpg.connect(stack.dsn)
        try:
            recorded_before_kill = await stored.fetchval(
                "SELECT captured_minor FROM payment.payments WHERE id = $1", uuid.UUID(payment["id"])
            )
        finally:
            await stored.close()
        stack.kill_worker()
        await lock.rollback()
        stack.start_worker()
    finally:
        await conn.close()
    answered = await shipping  # 200, or 503 order_action_pending while the capture's attempt times out

    await _until_status(http, order, "Shipped", timeout=RECOVERY_TIMEOUT)
    intent = await _intent(stack, payment)
    [recorded] = await _recorded(http, order)
    report = await _check(stack, baseline, {order["id"]: "Shipped"})
    story = (
        f"captured recorded when the worker was killed: {recorded_before_kill}; ship answered "
        f"{answered.status_code}; intent {intent.status} received {intent.amount_received_minor} refunded "
        f"{intent.amount_refunded_minor}; payment {recorded}; invariants: {report.details()}"
    )
    print(f"[worker killed between capture and record] {story}")
    assert recorded_before_kill == 0, story  # the kill came between the provider's capture and our record of it
    assert (intent.amount_received_minor, intent.amount_refunded_minor) == (order["totalAmountMinor"], 0), story
    assert recorded["capturedMinor"] == order["totalAmountMinor"], story
    assert report.ok, story


async def test_the_provider_down_during_captures(stack: Stack, http: httpx.AsyncClient) -> None:
    """localstripe stops while paid orders are shipped: every capture is retried until it is back, then every
    order is Shipped and captured once."""
    baseline = await _baseline(stack)
    paid = [await _paid_order(stack, http) for _ in range(SHIPPED_DURING_OUTAGE)]
    stack.stop_localstripe()
    try:
        shipping = [asyncio.create_task(http.post(f"/api/orders/{order['id']}/mark-shipped")) for order, _ in paid]
        await asyncio.sleep(OUTAGE_SECONDS)
        during = [await order_status(http, order) for order, _ in paid]
    finally:
        await stack.start_localstripe()
    answers = [(await task).status_code for task in shipping]
    started = time.monotonic()
    for order, _ in paid:
        await _until_status(http, order, "Shipped", timeout=RECOVERY_TIMEOUT)
    recovered = time.monotonic() - started
    intents = [await _intent(stack, payment) for _, payment in paid]
    report = await _check(stack, baseline, {order["id"]: "Shipped" for order, _ in paid})
    story = (
        f"statuses during the outage: {during}; ship answered {answers}; all Shipped {recovered:.1f}s after the "
        f"provider came back; captured: {[i.amount_received_minor for i in intents]}; invariants: "
        f"{report.details()}"
    )
    print(f"[provider down during captures] {story}")
    assert during == ["Paid"] * len(paid), story  # nothing ships without its capture
    assert [i.amount_received_minor for i in intents] == [o["totalAmountMinor"] for o, _ in paid], story
    assert report.ok, story


async def test_an_authorization_of_another_amount_is_voided(stack: Stack, http: httpx.AsyncClient) -> None:
    """The order's intent changed to another amount at the provider before the card was confirmed: voided when
    its (real, localstripe's) webhook arrives; the order keeps waiting for its payment."""
    baseline = await _baseline(stack)
    order = await place(http, (ARM_BLK, 1))
    payment = await _stripe_payment(http, order)
    async with httpx.AsyncClient(base_url=stack.localstripe_url, auth=(LOCALSTRIPE_API_KEY, "")) as stripe_api:
        changed = await stripe_api.post(f"/v1/payment_intents/{payment['providerId']}", data={"amount": "100"})
        assert changed.status_code == 200, changed.text
    await confirm_with_card(stack.localstripe_url, payment["clientSecret"], GOOD_CARD)

    async def voided() -> None:
        assert (await _intent(stack, payment)).status is IntentStatus.CANCELED

    await assert_eventually(voided, timeout=PAID_TIMEOUT)
    assert await order_status(http, order) == "PendingPayment"
    assert (await _check(stack, baseline, {order["id"]: "PendingPayment"})).ok


async def test_a_second_intent_for_the_order_of_another_amount_is_voided(stack: Stack, http: httpx.AsyncClient) -> None:
    """An intent created at the provider directly, the order's id in its metadata, for another amount, confirmed:
    voided (nothing would ever capture it, yet the card stays held), and the order is unchanged."""
    baseline = await _baseline(stack)
    order = await place(http, (ARM_BLK, 1))
    await _stripe_payment(http, order)
    other = {"providerId": await authorized_elsewhere(stack.localstripe_url, order["id"])}
    await _webhook(stack, http, intent_event(other["providerId"]))

    async def voided() -> None:
        assert (await _intent(stack, other)).status is IntentStatus.CANCELED

    try:
        await assert_eventually(voided, timeout=10.0)
    finally:
        assert await order_status(http, order) == "PendingPayment"
        assert (await _check(stack, baseline, {order["id"]: "PendingPayment"})).ok
