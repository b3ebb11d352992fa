"""Fault drills: a batch of orders in flight at mixed stages, a fault in the middle, and nothing lost or doubled.

Each drill places a batch of ~45 orders whose final state is known in advance (a plan per order: left pending,
paid, shipped, cancelled before or after payment, expired, paid after a failed payment, or refused for lack of
stock) and drives them all concurrently over HTTP (at most `CONCURRENCY` requests at a time). While they are in
flight it SIGKILLs the worker, restarts PostgreSQL, restarts the Temporal dev server or kills the API. Clients
retry as a careful client would: placements with the same Idempotency-Key, actions relying on their idempotent
or strict answers, creations (payments, shipments are not idempotent) only after looking for what an
interrupted attempt may have created. Afterwards every order must reach its expected state, the stock totals
must have moved by exactly what the plans ship and hold, and the shared invariants must hold. Each drill prints
its figures: orders, faults (and what was in flight), invariant result, retried answers, wall time.

Then faults at a chosen moment, which a batch hits only by chance: Temporal going down while the worker runs
the steps of an update (held there by a row lock the test takes), and what the API answers while PostgreSQL
restarts or Temporal is down (503, never 500).
"""

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.idempotency import first_order_id
from stack.settings import Settings
from tests.conftest import APP_SECRET
from tests.e2e.conftest import HTTP_TIMEOUT
from tests.e2e.invariants import Expectations, InvariantReport, check_invariants, check_once, stock_totals
from tests.e2e.processes import Stack
from workflows.order import workflow_id

pytestmark = pytest.mark.e2e

CONCURRENCY = 10
STAGGER = 0.35  # every order has started once this share of the batch's steps is done
PER_PLAN = 6  # orders per plan: 7 plans -> 42 orders, plus the refused placements
REFUSED = 2
BATCH_DEADLINE = 150.0  # seconds for a whole batch, faults included
SETTLE_DEADLINE = 60.0
PROGRESS_DEADLINE = 90.0
RETRY_INTERVAL = 0.1  # doubling after each unknown outcome, up to MAX_RETRY_INTERVAL
MAX_RETRY_INTERVAL = 1.0
MAX_ATTEMPTS = 300
POLL_INTERVAL = 0.05

# The demo catalog: 12 variants of 12 SKUs, 100 units each, all USD.
VARIANTS: list[tuple[str, str, int]] = [
    ("40000000-0000-0000-0000-000000000001", "WH-BLK", 12900),
    ("40000000-0000-0000-0000-000000000002", "WH-WHT", 12900),
    ("40000000-0000-0000-0000-000000000003", "KEY-US-BLK", 9900),
    ("40000000-0000-0000-0000-000000000004", "KEY-EU-GRY", 9900),
    ("40000000-0000-0000-0000-000000000005", "DOCK-8IN1", 7900),
    ("40000000-0000-0000-0000-000000000006", "PMON-156-FHD", 18900),
    ("40000000-0000-0000-0000-000000000007", "PMON-156-4K", 32900),
    ("40000000-0000-0000-0000-000000000008", "BAG-20L-BLK", 8900),
    ("40000000-0000-0000-0000-000000000009", "BAG-25L-GRY", 10900),
    ("40000000-0000-0000-0000-000000000010", "NOTE-A5", 1200),
    ("40000000-0000-0000-0000-000000000011", "NOTE-A4", 1800),
    ("9572fb9d-f059-401e-9041-7fc75f8cb414", "ARM-BLK", 6900),
]


class Plan(StrEnum):
    """What the driver does with an order; the value is the order's expected final status."""

    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    PAID_THEN_CANCELLED = "paid-then-cancelled"
    EXPIRED = "expired"
    FAILED_THEN_PAID = "failed-then-paid"
    REFUSED = "refused"


FINAL_STATUS = {
    Plan.PENDING: "PendingPayment",
    Plan.PAID: "Paid",
    Plan.SHIPPED: "Shipped",
    Plan.CANCELLED: "Cancelled",
    Plan.PAID_THEN_CANCELLED: "Cancelled",
    Plan.EXPIRED: "Expired",
    Plan.FAILED_THEN_PAID: "Paid",
}
STEPS = {
    Plan.PENDING: 1,
    Plan.PAID: 3,
    Plan.SHIPPED: 5,
    Plan.CANCELLED: 2,
    Plan.PAID_THEN_CANCELLED: 4,
    Plan.EXPIRED: 2,
    Plan.FAILED_THEN_PAID: 5,
    Plan.REFUSED: 1,
}
# payments of an order at the end, by status
PAYMENTS = {
    Plan.PAID: {"Succeeded": 1},
    Plan.SHIPPED: {"Succeeded": 1},
    Plan.PAID_THEN_CANCELLED: {"Refunded": 1},
    Plan.FAILED_THEN_PAID: {"Failed": 1, "Succeeded": 1},
}
HOLDS_STOCK = {Plan.PENDING, Plan.PAID, Plan.FAILED_THEN_PAID}
# history events that show a run was hit by the fault: its task or step had to be tried again
RETRY_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "workflow task timed out",
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "workflow task failed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity timed out",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity failed",
}


@dataclass
class OrderRun:
    index: int
    plan: Plan
    key: str
    email: str
    lines: list[tuple[str, str, int]]  # (variant id, sku, quantity)
    stage: str = "queued"

    @property
    def order_id(self) -> UUID:
        return first_order_id(Settings(_env_file=None, app_secret=APP_SECRET), self.key)

    @property
    def amount(self) -> int:
        prices = {variant: price for variant, _, price in VARIANTS}
        return sum(prices[variant] * quantity for variant, _, quantity in self.lines)


def build_batch(drill: str) -> list[OrderRun]:
    """The drill's orders, in the order the driver starts them."""
    plans: list[Plan] = [plan for _ in range(PER_PLAN) for plan in Plan if plan is not Plan.REFUSED]
    plans += [Plan.REFUSED] * REFUSED
    # the longest plans start first, so that while the fault hits some orders are being shipped already
    plans.sort(key=lambda plan: -STEPS[plan])
    runs: list[OrderRun] = []
    for index, plan in enumerate(plans):
        variant, sku, _ = VARIANTS[index % len(VARIANTS)]
        lines = [(variant, sku, 1 + index % 2)]
        if index % 3 == 0:
            other, other_sku, _ = VARIANTS[(index + 5) % len(VARIANTS)]
            lines.append((other, other_sku, 1))
        if plan is Plan.REFUSED:
            lines = [(variant, sku, 100_000)]  # more than the warehouse holds: insufficient_stock
        key = f"{drill}-{index}-{uuid.uuid4()}"
        runs.append(OrderRun(index, plan, key, f"customer{index}@{drill}.e2e.test", lines))
    return runs


class Unexpected(AssertionError):
    pass


@dataclass
class Driver:
    """Drives a batch over HTTP with bounded concurrency, retrying as a careful client does."""

    http: httpx.AsyncClient
    deadline: float
    semaphore: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENCY))
    steps_done: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)  # requests waiting for an answer, by route
    finished: bool = False
    answers: Counter[str] = field(default_factory=Counter)  # retried answers: transport errors and 5xx
    server_errors: list[str] = field(default_factory=list)  # every 500, with its body

    # --- requests -----------------------------------------------------------------------------------

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        """One attempt; None when the outcome is unknown (transport error or 5xx), which is recorded."""
        route = f"{method} {_UUID.sub('{id}', url)}"
        async with self.semaphore:
            self.in_flight[route] += 1
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError as error:
                self.answers[type(error).__name__] += 1
                return None
            finally:
                self.in_flight[route] -= 1
        if response.status_code < 500:
            return response
        code = _error_code(response)
        self.answers[f"{response.status_code} {code}"] += 1
        if response.status_code == 500:
            self.server_errors.append(f"{method} {url}: {response.text[:300]}")
        return None

    async def _pause(self, what: str, attempt: int) -> None:
        if time.monotonic() > self.deadline:
            raise Unexpected(f"{what}: no definite answer before the batch deadline")
        await asyncio.sleep(min(RETRY_INTERVAL * 2**attempt, MAX_RETRY_INTERVAL))

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send until there is a definite (< 500) answer: for requests that are safe to repeat."""
        for attempt in range(MAX_ATTEMPTS):
            response = await self._send(method, url, **kwargs)
            if response is not None:
                return response
            await self._pause(f"{method} {url}", attempt)
        raise Unexpected(f"{method} {url}: no definite answer after {MAX_ATTEMPTS} attempts")

    async def _create(self, url: str, body: dict[str, object], order_id: UUID) -> str:
        """Create a payment or shipment: not idempotent, so after an unknown outcome look for it before retrying."""
        for attempt in range(MAX_ATTEMPTS):
            response = await self._send("POST", url, json=body)
            if response is not None:
                _expect(response, 201, f"POST {url} for order {order_id}")
                self.steps_done += 1
                return str(response.json()["id"])
            await self._pause(f"POST {url}", attempt)
            listed = (await self.request("GET", url)).json()
            pending = [x["id"] for x in listed if x["orderId"] == str(order_id) and x["status"] == "Pending"]
            if pending:
                self.steps_done += 1
                return str(pending[0])
        raise Unexpected(f"POST {url} for order {order_id}: no definite answer after {MAX_ATTEMPTS} attempts")

    # --- steps --------------------------------------------------------------------------------------

    async def place(self, run: OrderRun) -> None:
        body = {
            "customerName": f"Customer {run.index}",
            "customerEmail": run.email,
            "items": [{"productVariantId": variant, "quantity": quantity} for variant, _, quantity in run.lines],
        }
        response = await self.request("POST", "/api/orders", json=body, headers={"Idempotency-Key": run.key})
        if run.plan is Plan.REFUSED:
            _expect(response, 400, f"refused placement {run.index}", code="insufficient_stock")
        else:
            _expect(response, 201, f"placement {run.index}")
            order = response.json()
            if order["id"] != str(run.order_id) or order["status"] != "PendingPayment":
                raise Unexpected(f"placement {run.index}: {order['id']} {order['status']}, expected {run.order_id}")
        self.steps_done += 1

    async def pay(self, run: OrderRun, *, fail_first: bool = False) -> None:
        body = {"orderId": str(run.order_id), "amountMinor": run.amount, "currency": "USD", "provider": "Manual"}
        if fail_first:
            failed = await self._create("/api/payments", body, run.order_id)
            run.stage = "failing a payment"
            await self._settle_payment(run, failed, "fail", "Failed")
        payment = await self._create("/api/payments", body, run.order_id)
        run.stage = "paying"
        await self._settle_payment(run, payment, "succeed", "Succeeded")

    async def _settle_payment(self, run: OrderRun, payment: str, action: str, status: str) -> None:
        response = await self.request("POST", f"/api/payments/{payment}/{action}", json={})
        if response.status_code == 400 and _error_code(response) == "payment_not_pending":
            # an earlier attempt went through: the payment must be in the target status now
            response = await self.request("GET", f"/api/payments/{payment}")
        _expect(response, 200, f"{action} payment of order {run.index}")
        if response.json()["status"] != status:
            raise Unexpected(f"{action} payment {payment} of order {run.index}: {response.json()['status']}")
        self.steps_done += 1

    async def ship(self, run: OrderRun) -> None:
        shipment = await self._create("/api/shipments", {"orderId": str(run.order_id)}, run.order_id)
        run.stage = "shipping"
        response = await self.request("POST", f"/api/shipments/{shipment}/ship", json={"carrier": "DHL"})
        if response.status_code == 400 and _error_code(response) == "shipment_cannot_be_shipped":
            response = await self.request("GET", f"/api/shipments/{shipment}")
        _expect(response, 200, f"ship order {run.index}")
        if response.json()["status"] != "Shipped":
            raise Unexpected(f"shipment {shipment} of order {run.index}: {response.json()['status']}")
        self.steps_done += 1

    async def act(self, run: OrderRun, action: str, status: str) -> None:
        """cancel (strict: a repeat is refused, so read the order) or expire (idempotent)."""
        response = await self.request("POST", f"/api/orders/{run.order_id}/{action}")
        if response.status_code == 400 and _error_code(response) == "order_cannot_be_cancelled":
            response = await self.request("GET", f"/api/orders/{run.order_id}")
        _expect(response, 200, f"{action} order {run.index}")
        if response.json()["status"] != status:
            raise Unexpected(f"{action} order {run.index}: {response.json()['status']}")
        self.steps_done += 1

    async def drive(self, run: OrderRun) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [("placing", lambda: self.place(run))]
        match run.plan:
            case Plan.PAID:
                steps.append(("paying", lambda: self.pay(run)))
            case Plan.FAILED_THEN_PAID:
                steps.append(("paying", lambda: self.pay(run, fail_first=True)))
            case Plan.SHIPPED:
                steps += [("paying", lambda: self.pay(run)), ("shipping", lambda: self.ship(run))]
            case Plan.CANCELLED:
                steps.append(("cancelling", lambda: self.act(run, "cancel", "Cancelled")))
            case Plan.PAID_THEN_CANCELLED:
                steps += [
                    ("paying", lambda: self.pay(run)),
                    ("cancelling", lambda: self.act(run, "cancel", "Cancelled")),
                ]
            case Plan.EXPIRED:
                steps.append(("expiring", lambda: self.act(run, "expire", "Expired")))
        for stage, step in steps:
            run.stage = stage
            await step()
        run.stage = "done"

    async def run(self, batch: list[OrderRun]) -> None:
        """Drive the batch, starting the orders one after another over the first part of its progress, so
        that early orders are being paid and shipped while later ones are being placed."""
        total = total_steps(batch)
        try:
            async with asyncio.TaskGroup() as group:
                for n, run in enumerate(batch):
                    await self.wait_for_progress(int(n * STAGGER * total / len(batch)))
                    group.create_task(self.drive(run))
        finally:
            self.finished = True

    async def wait_for_progress(self, steps: int) -> None:
        """Poll until `steps` steps are done (or the batch is over)."""
        deadline = time.monotonic() + PROGRESS_DEADLINE
        while self.steps_done < steps and not self.finished and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL)

    async def settle(self, batch: list[OrderRun]) -> list[str]:
        """Poll every order until it shows its expected status; returns the ones that did not."""
        deadline = time.monotonic() + SETTLE_DEADLINE
        waiting = {run.index: run for run in batch}
        last: dict[int, str] = {}
        while waiting and time.monotonic() < deadline:
            for run in list(waiting.values()):
                response = await self.request("GET", f"/api/orders/{run.order_id}")
                expected = FINAL_STATUS.get(run.plan)
                if expected is None:
                    if response.status_code == 404:
                        del waiting[run.index]
                    last[run.index] = f"{response.status_code}"
                elif response.status_code == 200 and response.json()["status"] == expected:
                    del waiting[run.index]
                else:
                    last[run.index] = f"{response.status_code} {response.text[:120]}"
            if waiting:
                await asyncio.sleep(MAX_RETRY_INTERVAL)
        return [f"order {i} ({waiting[i].plan}, {waiting[i].order_id}): {last.get(i)}" for i in sorted(waiting)]

    def stages(self, batch: list[OrderRun]) -> str:
        counts = Counter(run.stage for run in batch)
        return ", ".join(f"{stage} {count}" for stage, count in sorted(counts.items()))


async def _listed(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    response = await http.get(url)
    _expect(response, 200, f"GET {url}")
    listed: list[dict[str, Any]] = response.json()
    return listed


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error"))
    except ValueError:
        return "?"


def _expect(response: httpx.Response, status: int, what: str, *, code: str | None = None) -> None:
    if response.status_code != status or (code is not None and _error_code(response) != code):
        raise Unexpected(f"{what}: {response.status_code} {response.text[:300]}")


def total_steps(batch: list[OrderRun]) -> int:
    return sum(STEPS[run.plan] for run in batch)


# --- the drill scaffold -------------------------------------------------------------------------------


@dataclass
class DrillResult:
    name: str
    orders: int
    faults: list[str]
    stages_at_fault: list[str]
    report: InvariantReport
    unsettled: list[str]
    side_effects: list[str]
    answers: Counter[str]
    server_errors: list[str]
    retries_in_histories: Counter[str]
    failed_attempts: int
    seconds: float
    batch_seconds: float

    def line(self) -> str:
        retried = ", ".join(f"{what} x{count}" for what, count in sorted(self.answers.items())) or "none"
        in_histories = ", ".join(f"{what} x{n}" for what, n in sorted(self.retries_in_histories.items())) or "none"
        return "\n  ".join(
            [
                f"[drill {self.name}] batch of {self.orders} orders, wall time {self.seconds:.1f}s "
                f"(batch {self.batch_seconds:.1f}s)",
                f"faults: {'; '.join(self.faults)}",
                f"orders by stage at the faults: {' | '.join(self.stages_at_fault)}",
                f"invariants: {self.report.summary()}",
                f"orders not in their expected state: {len(self.unsettled)}; payments, shipments or stock off: "
                f"{len(self.side_effects)}; answers 500: {len(self.server_errors)}",
                f"answers the clients retried: {retried}",
                f"retries in the runs' histories: {in_histories}; failed step attempts in the worker log: "
                f"{self.failed_attempts}",
            ]
        )


@dataclass
class DrillLog:
    faults: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)

    def record(self, fault: str, driver: Driver, batch: list[OrderRun]) -> None:
        waiting = ", ".join(f"{route} x{n}" for route, n in sorted(driver.in_flight.items()) if n)
        self.faults.append(f"{fault} with {driver.in_flight.total()} requests in flight ({waiting})")
        self.stages.append(driver.stages(batch))


Fault = Callable[[Stack, Driver, list[OrderRun], DrillLog], Awaitable[None]]


async def expected_side_effects(http: httpx.AsyncClient, batch: list[OrderRun]) -> list[str]:
    """Payments and shipments of every order as its plan leaves them."""
    payments = await _listed(http, "/api/payments")
    shipments = await _listed(http, "/api/shipments")
    off: list[str] = []
    for run in batch:
        mine = Counter(p["status"] for p in payments if p["orderId"] == str(run.order_id))
        if dict(mine) != PAYMENTS.get(run.plan, {}):
            off.append(f"order {run.index} ({run.plan}): payments {dict(mine)}")
        shipped = Counter(s["status"] for s in shipments if s["orderId"] == str(run.order_id))
        if dict(shipped) != ({"Shipped": 1} if run.plan is Plan.SHIPPED else {}):
            off.append(f"order {run.index} ({run.plan}): shipments {dict(shipped)}")
    return off


def failed_attempts(log: str) -> int:
    """Step attempts the worker logged as failed, other than the refusals the batch asked for."""
    chunks = log.split("Completing activity as failed")[1:]
    return sum(1 for chunk in chunks if "insufficient_stock" not in chunk)


async def retries_in_histories(client: Client, batch: list[OrderRun]) -> Counter[str]:
    """How often the batch's runs had a workflow task or a step tried again (evidence the fault hit them)."""
    found: Counter[str] = Counter()
    for run in batch:
        async for event in client.get_workflow_handle(workflow_id(run.order_id)).fetch_history_events():
            if event.event_type in RETRY_EVENTS:
                found[RETRY_EVENTS[event.event_type]] += 1
    return found


def expected_stock(before: dict[str, tuple[int, int]], batch: list[OrderRun]) -> dict[str, tuple[int, int]]:
    after = dict(before)
    for run in batch:
        for _, sku, quantity in run.lines:
            on_hand, reserved = after[sku]
            if run.plan is Plan.SHIPPED:
                after[sku] = (on_hand - quantity, reserved)
            elif run.plan in HOLDS_STOCK:
                after[sku] = (on_hand, reserved + quantity)
    return after


def expectations(drill: str, batch: list[OrderRun]) -> Expectations:
    return Expectations(
        statuses={run.order_id: FINAL_STATUS[run.plan] for run in batch if run.plan is not Plan.REFUSED},
        absent={run.order_id for run in batch if run.plan is Plan.REFUSED},
        email_domain=f"@{drill}.e2e.test",
    )


async def run_drill(stack: Stack, name: str, fault: Fault) -> DrillResult:
    started = time.monotonic()
    baseline = await check_once(stack.database_url, stack.temporal_client, stack.task_queue, Expectations())
    worker_log_offset = stack.worker.log.stat().st_size
    batch = build_batch(name)
    before = await stock_totals(stack.database_url)
    log = DrillLog()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=HTTP_TIMEOUT) as http:
        driver = Driver(http, deadline=started + BATCH_DEADLINE)
        driving = asyncio.create_task(driver.run(batch))
        try:
            await fault(stack, driver, batch, log)
            await asyncio.wait_for(asyncio.shield(driving), BATCH_DEADLINE)
        finally:
            if not driving.done():
                driving.cancel()
                await asyncio.gather(driving, return_exceptions=True)
        batch_seconds = time.monotonic() - started
        await stack.wait_api_ready()
        unsettled = await driver.settle(batch)
        report = await check_invariants(
            stack.database_url, stack.temporal_client, stack.task_queue, expectations(name, batch), baseline=baseline
        )
        side_effects = await expected_side_effects(http, batch)
    in_histories = await retries_in_histories(stack.temporal_client, batch)
    with open(stack.worker.log, "rb") as worker_log:
        worker_log.seek(worker_log_offset)
        attempts = failed_attempts(worker_log.read().decode(errors="replace"))
    after = await stock_totals(stack.database_url)
    wanted = expected_stock(before, batch)
    side_effects += [
        f"{sku}: (on-hand, reserved) {after[sku]}, expected {wanted[sku]}"
        for sku in wanted
        if after[sku] != wanted[sku]
    ]
    result = DrillResult(
        name=name,
        orders=len(batch),
        faults=log.faults,
        stages_at_fault=log.stages,
        report=report,
        unsettled=unsettled,
        side_effects=side_effects,
        answers=driver.answers,
        server_errors=driver.server_errors,
        retries_in_histories=in_histories,
        failed_attempts=attempts,
        seconds=time.monotonic() - started,
        batch_seconds=batch_seconds,
    )
    print(result.line())
    for error in result.server_errors:
        print(f"[drill {name}] 500: {error}")
    return result


def assert_drill(result: DrillResult) -> None:
    assert result.report.ok, result.report.details()
    assert not result.unsettled, "\n".join(result.unsettled)
    assert not result.side_effects, "\n".join(result.side_effects)
    # Answers 500 are reported in the drill's figures; the tests at the end of this module pin them down.


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


async def test_postgres_restarted_mid_flight(stack: Stack) -> None:
    async def fault(stack: Stack, driver: Driver, batch: list[OrderRun], log: DrillLog) -> None:
        await driver.wait_for_progress(total_steps(batch) // 2)
        log.record("PostgreSQL restart", driver, batch)
        await stack.restart_postgres()

    assert_drill(await run_drill(stack, "postgres-restart", fault))


async def test_temporal_restarted_mid_flight(stack: Stack) -> None:
    async def fault(stack: Stack, driver: Driver, batch: list[OrderRun], log: DrillLog) -> None:
        await driver.wait_for_progress(total_steps(batch) // 2)
        log.record("Temporal dev server restart", driver, batch)
        await stack.restart_temporal()

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

LOCK_WAIT_DEADLINE = 30.0
STEP_SETTLE_DEADLINE = 10.0


async def _wait_for_lock_waiter(dsn: str, table: str) -> None:
    """Poll until a session waits for a row lock on `table` (the worker's step, blocked by the test).

    Its own connection: inside a transaction, pg_stat_activity would keep showing its first snapshot.
    """
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + LOCK_WAIT_DEADLINE
        while time.monotonic() < deadline:
            waiting = await conn.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE $1",
                f"%{table}%",
            )
            if waiting:
                return
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        await conn.close()
    raise AssertionError(f"no step waited for a lock on {table} within {LOCK_WAIT_DEADLINE:g}s")


async def test_temporal_restart_while_a_payment_step_runs(stack: Stack, http: httpx.AsyncClient) -> None:
    """The dev server goes down while the worker runs the steps of a `mark_paid` update.

    The steps commit to PostgreSQL (payment Succeeded, order Paid) while Temporal is down; the order must end
    up Paid in its workflow too, whatever the API answered meanwhile, and a paid order must not expire.
    The step is held at the right moment by a row lock the test takes on the payment.
    """
    baseline = await check_once(stack.database_url, stack.temporal_client, stack.task_queue, Expectations())
    variant, _, price = VARIANTS[0]
    placed = await http.post(
        "/api/orders",
        json={
            "customerName": "Lock Step",
            "customerEmail": "lock@restart-step.e2e.test",
            "items": [{"productVariantId": variant, "quantity": 1}],
        },
    )
    _expect(placed, 201, "placement")
    order_id = placed.json()["id"]
    body = {"orderId": order_id, "amountMinor": price, "currency": "USD", "provider": "Manual"}
    created = await http.post("/api/payments", json=body)
    _expect(created, 201, "payment")
    payment_id = created.json()["id"]

    conn = await asyncpg.connect(stack.dsn)
    try:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("SELECT 1 FROM payment.payments WHERE id = $1 FOR UPDATE", uuid.UUID(payment_id))
        succeeding = asyncio.create_task(http.post(f"/api/payments/{payment_id}/succeed", json={}))
        await _wait_for_lock_waiter(stack.dsn, "payment.payments")
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
        stack.database_url, stack.temporal_client, stack.task_queue, baseline=baseline, settle_timeout=5.0
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
    assert expired.status_code == 400 and _error_code(expired) == "order_cannot_be_expired", story
    assert report.ok, story


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
    route = f"{probe.method} {_UUID.sub('{id}', probe.url)}"
    try:
        response = await http.request(probe.method, probe.url, json=probe.json, headers=probe.headers)
    except httpx.TransportError as error:
        return f"{route} -> {type(error).__name__}", None
    code = _error_code(response) if response.status_code >= 400 else ""
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
    _expect(placed, 201, "placement")
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
