"""The drill driver: a batch of orders with known final states, driven over HTTP while a fault hits the stack.

`build_batch` plans ~45 orders (left pending, paid, shipped, cancelled before or after payment, expired, paid
after a failed payment, or refused for lack of stock); `Driver` drives them concurrently (at most `CONCURRENCY`
requests at a time), retrying as a careful client would: placements with the same Idempotency-Key, actions
relying on their idempotent or strict answers, creations (payments, shipments are not idempotent) only after
looking for what an interrupted attempt may have created. `run_drill` runs a batch with a `Fault`, then settles
every order and checks the stock totals, payments, shipments and the shared invariants; `assert_drill` fails the
test on anything off. The drills themselves are in `test_drills.py`.
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
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from services.payment.provider import PaymentProvider
from services.payment.stripe_provider import build_provider
from stack.settings import Settings
from tests.conftest import APP_SECRET
from tests.demo import VARIANTS as DEMO_VARIANTS
from tests.e2e.conftest import HTTP_TIMEOUT
from tests.e2e.processes import Stack
from tests.eventually import assert_eventually
from tests.http import Json
from tooling.invariants import Expectations, InvariantReport, check_invariants, check_once, stock_totals
from usecases.idempotency import first_order_id
from workflows.order import workflow_id

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
LOCK_WAIT_DEADLINE = 30.0

# The demo catalog: (variant id, SKU, price) of its 12 variants, 100 units of each SKU in stock, all USD.
VARIANTS: list[tuple[str, str, int]] = [(str(v.id), v.sku, v.price_amount_minor) for v in DEMO_VARIANTS]


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
        route = f"{method} {ROUTE_ID.sub('{id}', url)}"
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
        code = answer_error(response)
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
                expect(response, 201, f"POST {url} for order {order_id}")
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
            expect(response, 400, f"refused placement {run.index}", code="insufficient_stock")
        else:
            expect(response, 201, f"placement {run.index}")
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
        path = f"/api/payments/{payment}"
        await self._transition(run, path, action, {}, "payment_not_pending", status)

    async def ship(self, run: OrderRun) -> None:
        shipment = await self._create("/api/shipments", {"orderId": str(run.order_id)}, run.order_id)
        run.stage = "shipping"
        path = f"/api/shipments/{shipment}"
        await self._transition(run, path, "ship", {"carrier": "DHL"}, "shipment_cannot_be_shipped", "Shipped")

    async def act(self, run: OrderRun, action: str, status: str) -> None:
        """cancel (strict: a repeat is refused, so read the order) or expire (idempotent)."""
        await self._transition(run, f"/api/orders/{run.order_id}", action, None, "order_cannot_be_cancelled", status)

    async def _transition(
        self, run: OrderRun, path: str, action: str, body: Json | None, repeat_refused: str, status: str
    ) -> None:
        """POST `path`/`action`; a strict route refuses a repeat with `repeat_refused` when an earlier attempt went
        through, so then the resource is read instead. Either way it must end in `status`."""
        response = await self.request("POST", f"{path}/{action}", json=body)
        if response.status_code == 400 and answer_error(response) == repeat_refused:
            response = await self.request("GET", path)
        expect(response, 200, f"{action} {path} of order {run.index}")
        if response.json()["status"] != status:
            raise Unexpected(f"{action} {path} of order {run.index}: {response.json()['status']}")
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


async def listed(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    response = await http.get(url)
    expect(response, 200, f"GET {url}")
    listed: list[dict[str, Any]] = response.json()
    return listed


ROUTE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def answer_error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error"))
    except ValueError:
        return "?"


def expect(response: httpx.Response, status: int, what: str, *, code: str | None = None) -> None:
    if response.status_code != status or (code is not None and answer_error(response) != code):
        raise Unexpected(f"{what}: {response.status_code} {response.text[:300]}")


def total_steps(batch: list[OrderRun]) -> int:
    return sum(STEPS[run.plan] for run in batch)


async def wait_for_lock_waiter(dsn: str, table: str) -> None:
    """Poll until a session waits for a row lock on `table` (the worker's step, blocked by the test).

    Its own connection: inside a transaction, pg_stat_activity would keep showing its first snapshot.
    """
    conn = await asyncpg.connect(dsn)

    async def waiting() -> None:
        count = await conn.fetchval(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE $1", f"%{table}%"
        )
        assert count, f"no step waited for a lock on {table} within {LOCK_WAIT_DEADLINE:g}s"

    try:
        await assert_eventually(waiting, timeout=LOCK_WAIT_DEADLINE, interval=POLL_INTERVAL)
    finally:
        await conn.close()


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
    payments = await listed(http, "/api/payments")
    shipments = await listed(http, "/api/shipments")
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


def stack_provider(stack: Stack) -> PaymentProvider | None:
    """The stack's payment provider (its localstripe), for the invariants to read; None when it has none."""
    settings = stack.settings()
    return build_provider(settings) if settings.stripe_api_base else None


def expectations(drill: str, batch: list[OrderRun]) -> Expectations:
    return Expectations(
        statuses={run.order_id: FINAL_STATUS[run.plan] for run in batch if run.plan is not Plan.REFUSED},
        absent={run.order_id for run in batch if run.plan is Plan.REFUSED},
        email_domain=f"@{drill}.e2e.test",
    )


async def run_drill(stack: Stack, name: str, fault: Fault) -> DrillResult:
    started = time.monotonic()
    provider = stack_provider(stack)
    baseline = await check_once(
        stack.database_url, stack.temporal_client, stack.task_queue, Expectations(), provider=provider
    )
    worker_log_offset = stack.worker.log.stat().st_size
    batch = build_batch(name)
    before = await stock_totals(stack.database_url)
    log = DrillLog()
    async with stack.http_client(HTTP_TIMEOUT) as http:
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
            stack.database_url,
            stack.temporal_client,
            stack.task_queue,
            expectations(name, batch),
            baseline=baseline,
            provider=provider,
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
