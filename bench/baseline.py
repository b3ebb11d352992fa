"""The engine's floor: a workflow of OrderWorkflow's shape whose activities do nothing.

Same messages (update-with-start of `wait_placed`, then the `mark_paid` and `mark_shipped` updates, with
validators), same payment timer while PendingPayment, same search-attribute upserts, and the same number of
activity calls on each path:

- placement: load snapshots, allocate stock, record order;
- pay: succeed payment, record status;
- ship: ship shipment, commit stock, record status.

How the steps run is the run's `StepMode`: all ordinary activities; all local activities
(`workflow.execute_local_activity`), the floor of a design that runs its short database steps inside the
workflow task; or `durable`, OrderWorkflow's own rule (placing local; an action answering an update runs its
first step as an ordinary activity, the rest local), the floor of what that rule costs.

`BaselineExpiryWorkflow` is the floor of an expiry storm: a payment timer, then one release step.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.search_attributes import ORDER_STATUS, ORDER_TOTAL_MINOR

# The same timeout and retry policy as OrderWorkflow's activities.
ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)


class Step(StrEnum):
    LOAD_SNAPSHOTS = "baseline.load_snapshots"
    ALLOCATE_STOCK = "baseline.allocate_stock"
    RECORD_ORDER = "baseline.record_order"
    SUCCEED_PAYMENT = "baseline.succeed_payment"
    RECORD_STATUS = "baseline.record_status"
    COMMIT_STOCK = "baseline.commit_stock"
    SHIP_SHIPMENT = "baseline.ship_shipment"
    RELEASE_STOCK = "baseline.release_stock"


PLACE_STEPS = (Step.LOAD_SNAPSHOTS, Step.ALLOCATE_STOCK, Step.RECORD_ORDER)
PAY_STEPS = (Step.SUCCEED_PAYMENT, Step.RECORD_STATUS)
SHIP_STEPS = (Step.SHIP_SHIPMENT, Step.COMMIT_STOCK, Step.RECORD_STATUS)  # in OrderWorkflow's order


class StepMode(StrEnum):
    """How a baseline run executes its steps."""

    ACTIVITY = "activity"  # every step an ordinary activity
    LOCAL = "local"  # every step a local activity
    DURABLE = "durable"  # OrderWorkflow's rule: see `runs_locally`


def runs_locally(mode: StepMode, *, placing: bool, index: int) -> bool:
    """Whether step `index` of a placement (`placing`) or of an action answering an update runs as a local activity.

    DURABLE keeps OrderWorkflow's durability rule (`OrderWorkflow._activity`): placing is driven by the run's own
    durable start, so all local; an action's first step is an ordinary activity, which only a completed workflow
    task can schedule, so the accepted update is in the history before anything local commits; the rest local.
    """
    match mode:
        case StepMode.ACTIVITY:
            return False
        case StepMode.LOCAL:
            return True
        case StepMode.DURABLE:
            return placing or index > 0


# The payment timeout of every order a run leaves open, the project's (PAYMENT_TIMEOUT_SECONDS) and the floors':
# longer than any run, so no order expires unasked while a later phase measures or checks the invariants (at the
# default 15 minutes, a slow run saw its first orders expire while the storm's check read them).
PAYMENT_TIMEOUT_SECONDS = 2 * 60 * 60


class BaselineOrder(BaseModel):
    """Input of a baseline run; `lines` only sizes the payloads, as an order's lines would."""

    order_id: UUID
    customer_email: str
    lines: int = 1
    mode: StepMode = StepMode.ACTIVITY
    payment_timeout_seconds: int = PAYMENT_TIMEOUT_SECONDS


class StepInput(BaseModel):
    order_id: UUID
    lines: int


class BaselinePay(BaseModel):
    payment_id: UUID


class BaselineShip(BaseModel):
    shipment_id: UUID


class BaselineDetails(BaseModel):
    order_id: UUID
    status: str


# --- activities: each one does nothing ---------------------------------------------------------------


@activity.defn(name=Step.LOAD_SNAPSHOTS)
async def load_snapshots(step: StepInput) -> None:
    return None


@activity.defn(name=Step.ALLOCATE_STOCK)
async def allocate_stock(step: StepInput) -> None:
    return None


@activity.defn(name=Step.RECORD_ORDER)
async def record_order(step: StepInput) -> None:
    return None


@activity.defn(name=Step.SUCCEED_PAYMENT)
async def succeed_payment(step: StepInput) -> None:
    return None


@activity.defn(name=Step.RECORD_STATUS)
async def record_status(step: StepInput) -> None:
    return None


@activity.defn(name=Step.COMMIT_STOCK)
async def commit_stock(step: StepInput) -> None:
    return None


@activity.defn(name=Step.SHIP_SHIPMENT)
async def ship_shipment(step: StepInput) -> None:
    return None


@activity.defn(name=Step.RELEASE_STOCK)
async def release_stock(step: StepInput) -> None:
    return None


ACTIVITIES = [
    load_snapshots,
    allocate_stock,
    record_order,
    succeed_payment,
    record_status,
    commit_stock,
    ship_shipment,
    release_stock,
]


# --- the workflow ------------------------------------------------------------------------------------

PENDING_PAYMENT, PAID, SHIPPED = "PendingPayment", "Paid", "Shipped"


@dataclass
class _Request:
    steps: tuple[Step, ...]
    status: str
    done: bool = False


@workflow.defn(sandboxed=False)  # like OrderWorkflow: the floor is measured on the same engine configuration
class BaselineOrderWorkflow:
    """Place, then serve pay and ship requests in the run loop, as OrderWorkflow does; every step a no-op."""

    @workflow.init
    def __init__(self, order: BaselineOrder) -> None:
        self._order = order
        self._placing = True
        self._status = ""
        self._requests: list[_Request] = []

    @workflow.run
    async def run(self, order: BaselineOrder) -> BaselineDetails:
        await self._steps(PLACE_STEPS, placing=True)
        self._status = PENDING_PAYMENT
        self._placing = False
        workflow.upsert_search_attributes(
            [
                ORDER_STATUS.value_set(self._status),
                ORDER_TOTAL_MINOR.value_set(order.lines),
            ]
        )
        deadline = workflow.now() + timedelta(seconds=order.payment_timeout_seconds)
        while not self._finished():
            timeout = deadline - workflow.now() if self._status == PENDING_PAYMENT else None
            try:
                await workflow.wait_condition(lambda: bool(self._requests) or self._finished(), timeout=timeout)
            except TimeoutError:
                break  # payment timeout: the baseline just ends (OrderWorkflow would expire the order)
            if self._requests:
                request = self._requests.pop(0)
                await self._steps(request.steps, placing=False)
                self._status = request.status
                workflow.upsert_search_attributes([ORDER_STATUS.value_set(self._status)])
                request.done = True
        return self._details()

    async def _steps(self, steps: tuple[Step, ...], *, placing: bool) -> None:
        arg = StepInput(order_id=self._order.order_id, lines=self._order.lines)
        for index, step in enumerate(steps):
            if runs_locally(self._order.mode, placing=placing, index=index):
                await workflow.execute_local_activity(
                    step.value, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
                )
            else:
                await workflow.execute_activity(
                    step.value, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
                )

    def _finished(self) -> bool:
        return self._status == SHIPPED and not self._requests and workflow.all_handlers_finished()

    def _details(self) -> BaselineDetails:
        return BaselineDetails(order_id=self._order.order_id, status=self._status)

    @workflow.update
    async def wait_placed(self) -> BaselineDetails:
        await workflow.wait_condition(lambda: not self._placing)
        return self._details()

    @workflow.update
    async def mark_paid(self, message: BaselinePay) -> BaselineDetails:
        return await self._submit(_Request(PAY_STEPS, PAID))

    @workflow.update
    async def mark_shipped(self, message: BaselineShip) -> BaselineDetails:
        return await self._submit(_Request(SHIP_STEPS, SHIPPED))

    @mark_paid.validator
    def _validate_mark_paid(self, message: BaselinePay) -> None:
        self._validate(PENDING_PAYMENT)

    @mark_shipped.validator
    def _validate_mark_shipped(self, message: BaselineShip) -> None:
        self._validate(PAID)

    def _validate(self, *allowed: str) -> None:
        if not self._placing and self._status not in allowed:
            raise ApplicationError(f"not allowed in status {self._status}", type="refused", non_retryable=True)

    async def _submit(self, request: _Request) -> BaselineDetails:
        await workflow.wait_condition(lambda: not self._placing)
        self._requests.append(request)
        await workflow.wait_condition(lambda: request.done)
        return self._details()


# --- the expiry floor --------------------------------------------------------------------------------


class BaselineExpiry(BaseModel):
    order_id: UUID
    payment_timeout_seconds: int


class BaselinePlaced(BaseModel):
    order_id: UUID
    payment_deadline: datetime


@workflow.defn(sandboxed=False)
class BaselineExpiryWorkflow:
    """A payment timer, then one release step: what an order's expiry costs Temporal when the step does nothing.

    The release is a local activity, as every step of OrderWorkflow's expiry by its payment timer is (the fired
    timer is in the history already); the run then ends.
    """

    @workflow.init
    def __init__(self, order: BaselineExpiry) -> None:
        self._order = order
        self._deadline: datetime | None = None

    @workflow.run
    async def run(self, order: BaselineExpiry) -> None:
        self._deadline = workflow.now() + timedelta(seconds=order.payment_timeout_seconds)
        await workflow.sleep(self._deadline - workflow.now())
        await workflow.execute_local_activity(
            release_stock,
            StepInput(order_id=order.order_id, lines=1),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    @workflow.update
    async def wait_placed(self) -> BaselinePlaced:
        await workflow.wait_condition(lambda: self._deadline is not None)
        assert self._deadline is not None
        return BaselinePlaced(order_id=self._order.order_id, payment_deadline=self._deadline)
