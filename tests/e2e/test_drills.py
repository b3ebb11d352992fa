"""Fault drills: a batch of orders in flight at mixed stages, a fault in the middle, and nothing lost or doubled.

Each drill places a batch of ~45 orders whose final state is known in advance (a plan per order: left pending,
paid, shipped, cancelled before or after payment, expired, paid after a failed payment, or refused for lack of
stock) and drives them all concurrently over HTTP (at most `CONCURRENCY` requests at a time). While they are in
flight it SIGKILLs the worker, restarts PostgreSQL, restarts the Temporal dev server or kills the API. Clients
retry as a careful client would: placements with the same Idempotency-Key, actions relying on their idempotent
or strict answers, creations (payments, shipments are not idempotent) only after looking for what an
interrupted attempt may have created. Afterwards every order must reach its expected state, the stock totals
must have moved by exactly what the plans ship and hold, and the shared invariants must hold. Each drill prints
its figures: orders, faults (and what was in flight), invariant result, retried answers, wall time. The batch,
its driver and the checks after it are in `drills.py`; this module holds the faults.

Then faults at a chosen moment, which a batch hits only by chance: Temporal going down while the worker runs
the steps of an update (held there by a row lock the test takes), and what the API answers while PostgreSQL
restarts or Temporal is down (503, never 500).
"""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from api.placing import order_start
from contracts.order import OrderLineInput, OrderStatus, PlaceOrder
from tests.e2e.drills import (
    LOCK_WAIT_DEADLINE,
    MAX_RETRY_INTERVAL,
    POLL_INTERVAL,
    ROUTE_ID,
    VARIANTS,
    DrillLog,
    Driver,
    Fault,
    OrderRun,
    answer_error,
    assert_drill,
    expect,
    run_drill,
    stack_provider,
    total_steps,
    wait_for_lock_waiter,
)
from tests.e2e.processes import Stack
from tooling.invariants import Expectations, check_invariants, check_once
from workflows.order import OrderWorkflow, workflow_id

pytestmark = pytest.mark.e2e


# --- the drills ---------------------------------------------------------------------------------------


async def test_worker_sigkilled_twice_mid_flight(stack: Stack) -> None:
    async def fault(stack: Stack, driver: Driver, batch: list[OrderRun], log: DrillLog) -> None:
        total = total_steps(batch)
        await driver.wait_for_progress(total // 4)
        for n in (1, 2):
            log.record(f"SIGKILL worker #{n}", driver, batch)
            stack.kill_worker()
            stack.start_worker()
            if n == 1:
                await driver.wait_for_progress(driver.steps_done + total // 4)

    assert_drill(await run_drill(stack, "worker-kill", fault))


def restart_half_way(what: str, restart: Callable[[Stack], Awaitable[None]]) -> Fault:
    """A fault that restarts one dependency once half of the batch's steps are done."""

    async def fault(stack: Stack, driver: Driver, batch: list[OrderRun], log: DrillLog) -> None:
        await driver.wait_for_progress(total_steps(batch) // 2)
        log.record(what, driver, batch)
        await restart(stack)

    return fault


async def test_postgres_restarted_mid_flight(stack: Stack) -> None:
    fault = restart_half_way("PostgreSQL restart", Stack.restart_postgres)
    assert_drill(await run_drill(stack, "postgres-restart", fault))


async def test_temporal_restarted_mid_flight(stack: Stack) -> None:
    fault = restart_half_way("Temporal dev server restart", Stack.restart_temporal)
    assert_drill(await run_drill(stack, "temporal-restart", fault))


async def test_api_killed_mid_flight(stack: Stack) -> None:
    async def fault(stack: Stack, driver: Driver, batch: list[OrderRun], log: DrillLog) -> None:
        total = total_steps(batch)
        for n, progress in ((1, total // 5), (2, total * 3 // 5)):
            await driver.wait_for_progress(progress)
            log.record(f"SIGKILL API #{n}", driver, batch)
            stack.kill_api()
            stack.start_api()
            await stack.wait_api_ready()

    assert_drill(await run_drill(stack, "api-kill", fault))


# --- a fault at a chosen moment -----------------------------------------------------------------------

STEP_SETTLE_DEADLINE = 10.0


async def test_temporal_restart_while_a_payment_step_runs(stack: Stack, http: httpx.AsyncClient) -> None:
    """The dev server goes down while the worker runs the steps of a `mark_paid` update.

    The steps commit to PostgreSQL (payment Succeeded, order Paid) while Temporal is down; the order must end
    up Paid in its workflow too, whatever the API answered meanwhile, and a paid order must not expire.
    The step is held at the right moment by a row lock the test takes on the payment.
    """
    provider = stack_provider(stack)
    baseline = await check_once(
        stack.database_url, stack.temporal_client, stack.task_queue, Expectations(), provider=provider
    )
    variant, _, price = VARIANTS[0]
    placed = await http.post(
        "/api/orders",
        json={
            "customerName": "Lock Step",
            "customerEmail": "lock@restart-step.e2e.test",
            "items": [{"productVariantId": variant, "quantity": 1}],
        },
    )
    expect(placed, 201, "placement")
    order_id = placed.json()["id"]
    body = {"orderId": order_id, "amountMinor": price, "currency": "USD", "provider": "Manual"}
    created = await http.post("/api/payments", json=body)
    expect(created, 201, "payment")
    payment_id = created.json()["id"]

    conn = await asyncpg.connect(stack.dsn)
    try:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("SELECT 1 FROM payment.payments WHERE id = $1 FOR UPDATE", uuid.UUID(payment_id))
        succeeding = asyncio.create_task(http.post(f"/api/payments/{payment_id}/succeed", json={}))
        await wait_for_lock_waiter(stack.dsn, "payment.payments")
        await stack.stop_temporal()
        first = await succeeding  # the API cannot reach Temporal: it gives up on the update
        await lock.rollback()  # the held step goes on, with Temporal still down
        deadline = time.monotonic() + LOCK_WAIT_DEADLINE
        while time.monotonic() < deadline:
            status = await conn.fetchval("SELECT status FROM payment.payments WHERE id = $1", uuid.UUID(payment_id))
            if status == "Succeeded":
                break
            await asyncio.sleep(POLL_INTERVAL)
        stored_after_step = await conn.fetchval("SELECT status FROM ordering.orders WHERE id = $1", uuid.UUID(order_id))
    finally:
        await conn.close()
        if stack.dev_server is None or stack.dev_server.poll() is not None:
            await stack.start_temporal()
    await stack.wait_api_ready()

    # the client retries, as after any 5xx; a payment that is no longer Pending succeeded earlier
    retried = await http.post(f"/api/payments/{payment_id}/succeed", json={})
    payment = (await http.get(f"/api/payments/{payment_id}")).json()
    deadline = time.monotonic() + STEP_SETTLE_DEADLINE
    phase = None
    while time.monotonic() < deadline:
        state = await http.get(f"/api/orders/{order_id}/workflow")
        phase = state.json().get("phase") if state.status_code == 200 else f"{state.status_code} {state.text}"
        if phase == "Paid":
            break
        await asyncio.sleep(MAX_RETRY_INTERVAL)
    order = (await http.get(f"/api/orders/{order_id}")).json()
    expired = await http.post(f"/api/orders/{order_id}/expire")
    report = await check_invariants(
        stack.database_url,
        stack.temporal_client,
        stack.task_queue,
        baseline=baseline,
        settle_timeout=5.0,
        provider=provider,
    )
    story = (
        f"first succeed answered {first.status_code} {first.text[:160]}; order in PostgreSQL after the held step: "
        f"{stored_after_step}; retried succeed answered {retried.status_code} {retried.text[:160]}; payment "
        f"{payment['status']}; GET order: {order['status']}; workflow phase: {phase}; expire answered "
        f"{expired.status_code} {expired.text[:160]}; invariants: {report.details()}"
    )
    print(f"[restart during a step] {story}")
    assert payment["status"] == "Succeeded", story
    assert phase == "Paid", story
    assert expired.status_code == 400 and answer_error(expired) == "order_cannot_be_expired", story
    assert report.ok, story


async def test_worker_sigkilled_while_the_payment_timer_expires_an_order(stack: Stack) -> None:
    """The payment timer fires and the worker runs the expiry's steps, local activities in one workflow task; it is
    SIGKILLed while the last one (recording Expired) waits for a row lock the test holds on the order.

    The steps before it have committed (the stock released), but nothing of them is in the history: the restarted
    worker runs the task again, every step once more. The order must end Expired, its stock released once.
    """
    provider = stack_provider(stack)
    baseline = await check_once(
        stack.database_url, stack.temporal_client, stack.task_queue, Expectations(), provider=provider
    )
    variant, _, _ = VARIANTS[0]
    order = PlaceOrder(
        order_id=uuid.uuid4(),
        customer_name="Timer Kill",
        customer_email="timer@expiry-kill.e2e.test",
        items=[OrderLineInput(product_variant_id=uuid.UUID(variant), quantity=2)],
        payment_timeout_seconds=2,
    )
    conn = await asyncpg.connect(stack.dsn)
    try:
        lock = conn.transaction()
        await lock.start()
        await stack.temporal_client.execute_update_with_start_workflow(
            OrderWorkflow.wait_placed, start_workflow_operation=order_start(order, stack.settings())
        )
        await conn.execute("SELECT 1 FROM ordering.orders WHERE id = $1 FOR UPDATE", order.order_id)
        await wait_for_lock_waiter(stack.dsn, "ordering.orders")  # the timer fired; Expired waits for the lock
        released_before_kill = await _reservation_statuses(stack.dsn, order.order_id)
        stack.kill_worker()
        await lock.rollback()
        stack.start_worker()
    finally:
        await conn.close()

    outcome = await stack.temporal_client.get_workflow_handle_for(
        OrderWorkflow.run, workflow_id(order.order_id)
    ).result()
    expected = Expectations(statuses={order.order_id: "Expired"}, email_domain="expiry-kill.e2e.test")
    report = await check_invariants(
        stack.database_url,
        stack.temporal_client,
        stack.task_queue,
        expected,
        baseline=baseline,
        settle_timeout=5.0,
        provider=provider,
    )
    reservations = await _reservation_statuses(stack.dsn, order.order_id)
    story = (
        f"reservations when the worker was killed: {released_before_kill}; run ended {outcome.status}; "
        f"reservations now: {reservations}; invariants: {report.details()}"
    )
    print(f"[worker killed during a timer's expiry] {story}")
    assert released_before_kill == ["Released"], story  # the kill came after a committed step
    assert outcome.status is OrderStatus.EXPIRED, story
    assert reservations == ["Released"], story
    assert report.ok, story


async def _reservation_statuses(dsn: str, order_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT r.status FROM ordering.order_items i "
            "JOIN inventory.stock_reservations r ON r.id = i.inventory_reservation_id WHERE i.order_id = $1",
            order_id,
        )
    finally:
        await conn.close()
    return [row["status"] for row in rows]


# --- what the API answers while a dependency restarts -----------------------------------------------------

PROBE_LIMIT = 2000


@dataclass
class Probe:
    method: str
    url: str
    json: Any = None
    headers: dict[str, str] | None = None


async def _probe_once(http: httpx.AsyncClient, probe: Probe) -> tuple[str, str | None]:
    """One probe: its answer as `route -> status code`, and a description when it is a 5xx other than 503."""
    route = f"{probe.method} {ROUTE_ID.sub('{id}', probe.url)}"
    try:
        response = await http.request(probe.method, probe.url, json=probe.json, headers=probe.headers)
    except httpx.TransportError as error:
        return f"{route} -> {type(error).__name__}", None
    code = answer_error(response) if response.status_code >= 400 else ""
    answer = f"{route} -> {response.status_code} {code}".strip()
    if response.status_code >= 500 and response.status_code != 503:
        return answer, f"{route}: {response.status_code} {response.text[:200]}"
    return answer, None


async def probe_during(
    http: httpx.AsyncClient, probes: list[Probe], fault: Awaitable[None]
) -> tuple[Counter[str], list[str]]:
    """Send the probes round after round while `fault` runs; count the answers, keep the bodies of the 500s."""
    answers: Counter[str] = Counter()
    errors: list[str] = []
    running = asyncio.ensure_future(fault)
    try:
        for n in range(PROBE_LIMIT):
            if running.done():
                break
            answer, error = await _probe_once(http, probes[n % len(probes)])
            answers[answer] += 1
            errors += [error] if error else []
            await asyncio.sleep(POLL_INTERVAL)
        await running
    finally:
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    return answers, errors


def _outage_summary(what: str, answers: Counter[str]) -> str:
    return f"[{what}] answers: " + ", ".join(f"{answer} x{n}" for answer, n in sorted(answers.items()))


async def _placed_order(http: httpx.AsyncClient, email: str) -> str:
    variant, _, _ = VARIANTS[1]
    body = {"customerName": "Probe", "customerEmail": email, "items": [{"productVariantId": variant, "quantity": 1}]}
    placed = await http.post("/api/orders", json=body)
    expect(placed, 201, "placement")
    return str(placed.json()["id"])


async def test_api_answers_503_not_500_while_postgres_restarts(stack: Stack, http: httpx.AsyncClient) -> None:
    """A database outage is a 503 (retry later), as /ready says, not a 500 internal_error."""
    order_id = await _placed_order(http, "probe@postgres-outage.e2e.test")
    probes = [
        Probe("GET", "/api/stock/ARM-BLK"),
        Probe("GET", f"/api/orders/{order_id}"),
        Probe(
            "POST", "/api/payments", {"orderId": order_id, "amountMinor": 1, "currency": "USD", "provider": "Manual"}
        ),
    ]
    answers, errors = await probe_during(http, probes, stack.restart_postgres())
    print(_outage_summary("PostgreSQL restart", answers))
    assert any(not answer.endswith(("200", "201")) for answer in answers), f"no probe hit the outage: {answers}"
    assert not errors, f"{len(errors)} answers 500 while PostgreSQL restarted:\n" + "\n".join(errors)


async def test_api_answers_503_not_500_while_temporal_is_down(stack: Stack, http: httpx.AsyncClient) -> None:
    """Temporal being unreachable is a 503 (retry later), not a 500 internal_error; nothing is lost meanwhile."""
    order_id = await _placed_order(http, "probe@temporal-outage.e2e.test")
    probes = [
        Probe("GET", f"/api/orders/{order_id}"),  # answered from PostgreSQL when the run cannot be queried
        Probe("GET", f"/api/orders/{order_id}/workflow"),
        Probe("POST", f"/api/orders/{order_id}/cancel"),
    ]
    await stack.stop_temporal()
    try:  # all at once: each waits until the API gives up on Temporal (about 10 s)
        answered = await asyncio.gather(*(_probe_once(http, probe) for probe in probes))
    finally:
        await stack.start_temporal()
    answers = Counter(answer for answer, _ in answered)
    errors = [error for _, error in answered if error]
    print(_outage_summary("Temporal down", answers))
    await stack.wait_api_ready()
    # once Temporal is back, the retried cancel goes through
    cancelled = await http.post(f"/api/orders/{order_id}/cancel")
    if cancelled.status_code == 400:
        cancelled = await http.get(f"/api/orders/{order_id}")
    assert cancelled.json()["status"] == "Cancelled", cancelled.text
    assert not errors, f"{len(errors)} answers 500 while Temporal was down:\n" + "\n".join(errors)
