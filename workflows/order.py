"""OrderWorkflow: one run per order, workflow id `order-<orderId>`. The whole lifecycle, top to bottom:

1. load trusted snapshots of every ordered variant from the catalog; refuse mixed currencies;
2. reserve stock for every line (one inventory activity, all or nothing, idempotent per line);
3. record the order in the ordering store -> PendingPayment;
   each of steps 1-3 gets `placement_attempts`; if one runs out the order is rejected, nothing stays reserved;
4. wait for payment, at most the payment timeout (a durable timer):
   paid -> Paid; cancelled -> Cancelled; timer fires or an operator expires it -> Expired;
5. wait for shipment: shipped -> commit every reservation (on-hand decreases) -> Shipped;
   cancelled -> Cancelled, and every succeeded payment is refunded.

Every step that takes something (a reservation, a payment) pushes its compensation before it runs, so a step
whose effect committed but whose answer was lost is still given back; cancelling, expiring or a failed placement
runs them in reverse, so nothing is left behind. Callers reach the run through updates (they get the resulting
order back, or the contract's error code), signals (fire and forget, from any Temporal client) and queries. An
update that would change nothing is rejected by its validator, so it never reaches the history; the run
continues as new, carrying its state, when Temporal suggests it. The run ends once the order is Shipped,
Cancelled or Expired (or was never placed).
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from contracts.activities import CatalogSteps, FulfillmentSteps, InventorySteps, OrderingSteps, PaymentSteps
    from contracts.order import (
        ORDER_ALREADY_PAID,
        ORDER_UNCHANGED,
        REFUSAL_CODES,
        TERMINAL_STATUSES,
        AllocateStock,
        CancelOrder,
        ExpireOrder,
        LoadSnapshots,
        MarkPaid,
        MarkShipped,
        OrderAction,
        OrderActionMessage,
        OrderCarryOver,
        OrderDetails,
        OrderOutcome,
        OrderRef,
        OrderState,
        OrderStatus,
        PaymentFailed,
        PlaceOrder,
        RecordStatus,
        Rejection,
        ReleaseByKeys,
        Reservations,
        ShipShipment,
        StockLine,
        SucceedPayment,
        Verdict,
        action_of,
        decide,
        order_stock_key,
        placed_order,
        refusal_message,
    )
    from workflows.search_attributes import ORDER_STATUS, ORDER_TOTAL_MINOR, run_summary

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Infrastructure failures (database restarting, worker crash) are retried until they succeed; domain refusals
# are raised as non-retryable errors by the activities and end the step at once.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)
REJECTED = "Rejected"  # OrderStatus search-attribute value of a run whose order could not be placed

RELEASE_STOCK = "release stock"
VOID_ORDER = "void order"
REFUND_PAYMENTS = "refund payments"

_Steps = TypeVar("_Steps")
_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")
# An activity, as a method of its interface in contracts.activities (e.g. `InventorySteps.allocate`).
Step = Callable[[_Steps, _Arg], Awaitable[_Result]]


def workflow_id(order_id: UUID) -> str:
    return f"order-{order_id}"


def stock_keys(order_id: UUID, lines: int) -> list[str]:
    """The idempotency keys of an order's reservations, one per line in request order."""
    return [order_stock_key(order_id, n) for n in range(lines)]


@dataclass
class _Request:
    """An action waiting for the run to serve it; an update waits for `done`, a signal does not."""

    message: OrderActionMessage
    done: bool = False
    error: ApplicationError | None = None

    @property
    def action(self) -> OrderAction:
        return action_of(self.message)


# Not sandboxed: building a sandbox for every new order cost ~15-20 ms of worker CPU per placement. The
# workflow imports only temporalio, the stdlib and `contracts`, calls nothing non-deterministic, and the
# recorded histories in tests/workflows/histories are replayed in CI to catch any change that breaks replay.
@workflow.defn(sandboxed=False)
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: PlaceOrder) -> None:
        self._order_id = order.order_id
        self._placing = True
        self._accepted_durably = False  # see _activity
        self._details: OrderDetails | None = None
        self._rejection: Rejection | None = None
        self._reservation_ids: list[UUID] = []
        self._stock_keys: list[str] = []
        self._payment_deadline: datetime | None = None
        self._payment_failures = 0
        self._requests: list[_Request] = []
        self._serving: _Request | None = None
        self._shipping = False  # the stock is being committed: the order ships even if the run is cancelled
        self._compensations: list[str] = []  # names, in the order pushed; run in reverse
        self._compensations_run: list[str] = []
        self._compensation_steps: dict[str, Callable[[], Awaitable[None]]] = {
            RELEASE_STOCK: self._release_stock,
            VOID_ORDER: self._void_order,
            REFUND_PAYMENTS: self._refund_payments,
        }

    @workflow.run
    async def run(self, order: PlaceOrder) -> OrderOutcome:
        """Place the order, then serve payment, shipment, cancel and expiry until it is finished."""
        try:
            if order.carried is not None:
                self._take_over(order.carried)
            elif await self._place(order):
                self._payment_deadline = workflow.now() + timedelta(seconds=order.payment_timeout_seconds)
            else:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return OrderOutcome(order_id=self._order_id, status=None, rejection=self._rejection)
            while not self._finished():
                if workflow.cancellation_reason() is not None:
                    # Cancelled while a step was in flight: the step was waited for (it may have taken a payment)
                    # and its action finished; now the order is cancelled and gives everything back.
                    raise asyncio.CancelledError()
                if self._continue_as_new_suggested():
                    workflow.continue_as_new(order.model_copy(update={"carried": self._carry_over()}))
                if not await self._wait_for_request():
                    # The deadline passed: the fired timer (or, for a continued run, the deadline it was started
                    # with) is in the history before any step runs, as a run's start is while placing. Nothing has
                    # to be made durable first, so every step can be local (see _activity).
                    self._accepted_durably = True
                    await self._expire(ExpireOrder(reason="payment timeout"))
                elif self._requests:
                    await self._serve(self._requests.pop(0))
        except asyncio.CancelledError:
            # The run itself was cancelled (e.g. from Temporal Web): the order is cancelled and gives back
            # everything it holds before the cancellation is reported; an order whose stock was being committed
            # ships instead (its shipment may have shipped already).
            if self._shipping and self.status is OrderStatus.PAID:
                await self._commit_stock()
            elif self._details is not None and self.status not in TERMINAL_STATUSES:
                await self._cancel(CancelOrder(reason="workflow cancelled"))
            else:
                await self._compensate()
            raise
        return OrderOutcome(order_id=self._order_id, status=self.status)

    # --- 1-3. placing the order ------------------------------------------------------------------

    async def _place(self, order: PlaceOrder) -> bool:
        """Snapshots, reservations, the recorded order. On a refusal or out of attempts, give back and stop."""
        attempts = order.placement_attempts
        try:
            snapshots = await self._placing_step(
                CatalogSteps.load_snapshots,
                LoadSnapshots(variant_ids=[item.product_variant_id for item in order.items]),
                attempts,
            )
            if len({snapshot.currency for snapshot in snapshots}) > 1:
                raise ApplicationError(
                    "All items of an order must have the same currency", type="mixed_currencies_not_supported"
                )

            self._stock_keys = stock_keys(order.order_id, len(order.items))
            # an allocation that runs out of attempts may still have committed one of them: release by key
            self._push_compensation(RELEASE_STOCK)
            self._reservation_ids = await self._placing_step(
                InventorySteps.allocate,
                AllocateStock(
                    reference=f"ORDER-{order.order_id}",
                    lines=[
                        StockLine(sku=snapshot.sku, quantity=item.quantity, idempotency_key=key)
                        for snapshot, item, key in zip(snapshots, order.items, self._stock_keys, strict=True)
                    ],
                ),
                attempts,
            )

            details = placed_order(order, snapshots, self._reservation_ids, workflow.now(), workflow.uuid4)
            # a recording that runs out of attempts may still have committed one of them: void it, then release
            self._push_compensation(VOID_ORDER)
            await self._placing_step(OrderingSteps.record_order, details, attempts)
            self._drop_compensation(VOID_ORDER)  # recorded: a cancel or expiry records its own status
        except (ActivityError, ApplicationError) as error:
            await self._compensate()
            self._rejection = _rejection(error)
            self._placing = False
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(REJECTED)])
            _count("rejected")
            workflow.set_current_details(f"Rejected: {self._rejection.code}")
            return False
        self._details = details
        self._placing = False
        _count("placed")
        self._describe()
        workflow.upsert_search_attributes(
            [
                ORDER_STATUS.value_set(details.status.value),
                ORDER_TOTAL_MINOR.value_set(details.total_amount_minor),
            ]
        )
        return True

    # --- continuing as new -----------------------------------------------------------------------

    def _continue_as_new_suggested(self) -> bool:
        """Temporal suggests a new run (the history grew long) and nothing is in flight that would be lost."""
        return (
            workflow.info().is_continue_as_new_suggested()
            and not self._requests
            and self._serving is None
            and workflow.all_handlers_finished()
        )

    def _carry_over(self) -> OrderCarryOver:
        assert self._details is not None
        return OrderCarryOver(
            details=self._details,
            reservation_ids=self._reservation_ids,
            stock_keys=self._stock_keys,
            payment_deadline=self._payment_deadline,
            payment_failures=self._payment_failures,
            compensations_pending=self._compensations,
            compensations_run=self._compensations_run,
        )

    def _take_over(self, carried: OrderCarryOver) -> None:
        """Go on where the previous run stopped: the order is placed, its compensations still to run."""
        self._details = carried.details
        self._reservation_ids = carried.reservation_ids
        self._stock_keys = carried.stock_keys
        self._payment_deadline = carried.payment_deadline
        self._payment_failures = carried.payment_failures
        self._compensations = list(carried.compensations_pending)
        self._compensations_run = list(carried.compensations_run)
        self._placing = False
        self._describe()

    async def _placing_step(self, step: Step[_Steps, _Arg, _Result], arg: _Arg, attempts: int) -> _Result:
        """A step of placing: ends at once if refused, else is retried until it runs out of `attempts`."""
        try:
            return await self._activity(step, arg, attempts=attempts)
        except (ActivityError, ApplicationError) as error:
            cause = error.cause if isinstance(error, ActivityError) else error
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                raise  # a refusal: its code is the answer
            raise ApplicationError(
                f"Placing the order kept failing: {cause}", type="order_placement_failed", non_retryable=True
            ) from error

    # --- 4-5. serving actions until the order is finished ----------------------------------------

    async def _wait_for_request(self) -> bool:
        """Wait for the next action; False when the payment timer fires first (only while PendingPayment)."""
        timeout: timedelta | None = None
        if self.status is OrderStatus.PENDING_PAYMENT and self._payment_deadline is not None:
            timeout = self._payment_deadline - workflow.now()
            if timeout <= timedelta(0):
                return bool(self._requests)
        try:
            await workflow.wait_condition(
                lambda: bool(self._requests) or self._finished() or self._continue_as_new_suggested(),
                timeout=timeout,
            )
        except TimeoutError:
            return False
        return True

    def _finished(self) -> bool:
        return self.status in TERMINAL_STATUSES and not self._requests and workflow.all_handlers_finished()

    async def _serve(self, request: _Request) -> None:
        self._serving = request
        try:
            await self._serve_one(request)
        finally:
            self._serving = None

    async def _serve_one(self, request: _Request) -> None:
        assert self.status is not None  # requests are served only once the order is placed
        self._accepted_durably = False
        verdict = decide(request.action, self.status)
        try:
            if verdict is Verdict.REFUSE:
                raise ApplicationError(refusal_message(request.action, self.status), type=REFUSAL_CODES[request.action])
            match request.message:
                case MarkPaid():
                    await self._pay(request.message, verdict)
                case MarkShipped():
                    await self._ship(request.message, verdict)
                case CancelOrder():
                    await self._cancel(request.message)
                case ExpireOrder():
                    if verdict is Verdict.APPLY:
                        await self._expire(request.message)
        except (ActivityError, ApplicationError) as error:
            rejection = _rejection(error)
            request.error = ApplicationError(rejection.message, type=rejection.code, non_retryable=True)
        request.done = True

    async def _pay(self, message: MarkPaid, verdict: Verdict) -> None:
        """PendingPayment -> Paid. The payment succeeds first; the stock stays reserved until shipment.

        A payment succeeds only by paying the order: on an order already Paid (or Shipped) it is refused and stays
        Pending, so no second payment is taken.
        """
        if message.payment_id is not None and verdict is not Verdict.APPLY:
            raise ApplicationError(
                f"Order {self._order_id} is already paid; the payment was not taken", type=ORDER_ALREADY_PAID
            )
        if message.payment_id is not None:
            # a cancel that interrupts the step must refund a payment that succeeded all the same
            self._push_compensation(REFUND_PAYMENTS)
            await self._activity(
                PaymentSteps.mark_succeeded,
                SucceedPayment(payment_id=message.payment_id, provider_reference=message.provider_reference),
            )
        if verdict is Verdict.APPLY:
            self._push_compensation(REFUND_PAYMENTS)
            await self._transition(OrderStatus.PAID)

    async def _ship(self, message: MarkShipped, verdict: Verdict) -> None:
        """Paid -> Shipped: the shipment is claimed (Pending -> Shipped, refused if it was cancelled), then every
        reservation is committed (on-hand decreases once) and the order is Shipped."""
        if message.shipment_id is not None:
            await self._activity(
                FulfillmentSteps.mark_shipped,
                ShipShipment(
                    shipment_id=message.shipment_id, carrier=message.carrier, tracking_number=message.tracking_number
                ),
            )
        if verdict is Verdict.APPLY:
            self._shipping = True
            await self._commit_stock()

    async def _commit_stock(self) -> None:
        await self._activity(InventorySteps.commit, Reservations(reservation_ids=self._reservation_ids))
        self._compensations.clear()  # the goods left the warehouse: nothing is given back any more
        await self._transition(OrderStatus.SHIPPED)

    async def _cancel(self, message: CancelOrder) -> None:
        """PendingPayment or Paid -> Cancelled: refund and release in reverse, drop pending payments/shipments."""
        await self._compensate()
        # Cancelled is recorded first: a shipment created concurrently either saw the order Paid, committed
        # before this status (its row lock) and is cancelled below, or sees Cancelled and is refused.
        await self._transition(OrderStatus.CANCELLED)
        await self._activity(PaymentSteps.cancel_pending, OrderRef(order_id=self._order_id))
        await self._activity(FulfillmentSteps.cancel_pending, OrderRef(order_id=self._order_id))

    async def _expire(self, message: ExpireOrder) -> None:
        """PendingPayment -> Expired (payment timeout or an operator): release the stock, drop pending payments."""
        await self._compensate()
        await self._activity(PaymentSteps.cancel_pending, OrderRef(order_id=self._order_id))
        await self._transition(OrderStatus.EXPIRED)

    # --- compensation ----------------------------------------------------------------------------

    def _push_compensation(self, name: str) -> None:
        if name not in self._compensations:
            self._compensations.append(name)

    def _drop_compensation(self, name: str) -> None:
        self._compensations = [pushed for pushed in self._compensations if pushed != name]

    async def _compensate(self) -> None:
        """Run the pushed compensations in reverse; each one is dropped only after it succeeded."""
        while self._compensations:
            name = self._compensations[-1]
            await self._compensation_steps[name]()
            self._compensations.pop()
            self._compensations_run.append(name)
            _count("compensation", step=name)

    async def _release_stock(self) -> None:
        # by the order's keys: also releases an allocation whose answer (the reservation ids) was lost
        await self._activity(InventorySteps.release_by_keys, ReleaseByKeys(idempotency_keys=self._stock_keys))

    async def _void_order(self) -> None:
        await self._activity(OrderingSteps.void, OrderRef(order_id=self._order_id))

    async def _refund_payments(self) -> None:
        await self._activity(PaymentSteps.refund, OrderRef(order_id=self._order_id))

    # --- state -----------------------------------------------------------------------------------

    @property
    def status(self) -> OrderStatus | None:
        return self._details.status if self._details is not None else None

    async def _transition(self, status: OrderStatus) -> None:
        assert self._details is not None
        now = workflow.now()
        await self._activity(OrderingSteps.record_status, RecordStatus(order_id=self._order_id, status=status, at=now))
        self._details = self._details.model_copy(update={"status": status, "updated_at": now})
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        _count(status.value.lower())
        self._describe()

    def _describe(self) -> None:
        """The one-line summary Temporal Web shows for this run: no customer data in it."""
        assert self._details is not None
        order = self._details
        workflow.set_current_details(
            run_summary(len(order.items), order.status.value, order.total_amount_minor, order.currency)
        )

    async def _activity(self, step: Step[_Steps, _Arg, _Result], arg: _Arg, *, attempts: int = 0) -> _Result:
        """Run one step, retried until it succeeds or is refused, or runs out of `attempts` (0: no limit)."""
        retry_policy = replace(ACTIVITY_RETRY, maximum_attempts=attempts)
        # A run cancelled from Temporal waits for the step in flight to end before it compensates, or a payment
        # could succeed after the refunds ran.
        cancellation = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        if self._placing or self._accepted_durably:
            # Each step is one short PostgreSQL transaction: a local activity runs it in this worker, without a
            # task-queue round trip. That is safe while placing (driven by the run's own durable start; a replay
            # runs the idempotent steps again and a client retry rejoins by order id), once the action being
            # served is durably accepted, and for an expiry by the payment deadline (already in the history).
            return await workflow.execute_local_activity_method(
                step,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=retry_policy,
                cancellation_type=cancellation,
            )
        # The first step of an action that answers an update is an ordinary activity. An update is durable only
        # once the workflow task that accepted it completes, while a local activity commits inside that task:
        # if Temporal restarted in between, the database would say Paid while the run never heard of the
        # payment. An ordinary activity is scheduled only by a completed task, so once it has run, the accepted
        # update is in the history and the action's other steps can be local.
        result = await workflow.execute_activity_method(
            step,
            arg,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=retry_policy,
            cancellation_type=cancellation,
        )
        self._accepted_durably = True
        return result

    # --- messages --------------------------------------------------------------------------------

    @workflow.update
    async def wait_placed(self) -> OrderDetails:
        """The placed order, or the placement's refusal (its contract error code) once placing is over."""
        await workflow.wait_condition(lambda: not self._placing)
        self._refuse_if_rejected()
        assert self._details is not None
        return self._details

    @wait_placed.validator
    def _validate_wait_placed(self) -> None:
        """Once placing is over the answer is known: a repeat is rejected with it, and never reaches the history."""
        if self._placing:
            return
        self._refuse_if_rejected()
        raise self._unchanged("The order is placed already")

    def _refuse_if_rejected(self) -> None:
        if self._details is None:
            assert self._rejection is not None
            raise ApplicationError(self._rejection.message, type=self._rejection.code, non_retryable=True)

    @workflow.update
    async def mark_paid(self, message: MarkPaid) -> OrderDetails:
        """A payment succeeded, or an operator marks the order paid."""
        return await self._submit(message)

    @workflow.update
    async def mark_shipped(self, message: MarkShipped) -> OrderDetails:
        """A shipment shipped, or an operator marks the order shipped."""
        return await self._submit(message)

    @workflow.update
    async def cancel(self, message: CancelOrder) -> OrderDetails:
        return await self._submit(message)

    @workflow.update
    async def expire(self, message: ExpireOrder) -> OrderDetails:
        return await self._submit(message)

    @mark_paid.validator
    def _validate_mark_paid(self, message: MarkPaid) -> None:
        self._validate_message(message)

    @mark_shipped.validator
    def _validate_mark_shipped(self, message: MarkShipped) -> None:
        self._validate_message(message)

    @cancel.validator
    def _validate_cancel(self, message: CancelOrder) -> None:
        self._validate_message(message)

    @expire.validator
    def _validate_expire(self, message: ExpireOrder) -> None:
        self._validate_message(message)

    def _validate_message(self, message: OrderActionMessage) -> None:
        """Refuse what the state forbids, and reject what would change nothing: neither is recorded."""
        self._validate(action_of(message))
        if self._placing or self.status is None or self._requests or self._serving is not None:
            return  # an action ahead of this one may change the verdict: decided when served
        if decide(action_of(message), self.status) is Verdict.NOOP and not _settles_a_row(message):
            raise self._unchanged(f"The order is {self.status.value} already")

    def _unchanged(self, message: str) -> ApplicationError:
        """The rejection of an update that would change nothing; it carries the order as it is."""
        return ApplicationError(message, self._details, type=ORDER_UNCHANGED, non_retryable=True)

    def _validate(self, action: OrderAction) -> None:
        """Refuse early what the current state already forbids; the action is decided again when served."""
        if self._placing:
            return
        if self.status is None:
            raise ApplicationError("Order was not found", type="order_not_found", non_retryable=True)
        if decide(action, self.status) is Verdict.REFUSE:
            raise ApplicationError(refusal_message(action, self.status), type=REFUSAL_CODES[action], non_retryable=True)

    async def _submit(self, message: OrderActionMessage) -> OrderDetails:
        await workflow.wait_condition(lambda: not self._placing)
        self._validate(action_of(message))
        request = _Request(message)
        self._requests.append(request)
        await workflow.wait_condition(lambda: request.done)
        if request.error is not None:
            raise request.error
        assert self._details is not None
        return self._details

    @workflow.signal
    def payment_succeeded(self, message: MarkPaid) -> None:
        self._enqueue(message)

    @workflow.signal
    def payment_failed(self, message: PaymentFailed) -> None:
        """A payment failed: the order keeps waiting for another payment (or its timer)."""
        self._payment_failures += 1

    @workflow.signal
    def shipment_shipped(self, message: MarkShipped) -> None:
        self._enqueue(message)

    @workflow.signal
    def request_cancel(self, message: CancelOrder) -> None:
        self._enqueue(message)

    def _enqueue(self, message: OrderActionMessage) -> None:
        if self.status is None or self.status in TERMINAL_STATUSES:
            workflow.logger.warning(
                "ignoring %s signal: order %s is %s", action_of(message), self._order_id, self.status
            )
            return
        self._requests.append(_Request(message))

    @workflow.query
    def details(self) -> OrderDetails | None:
        return self._details

    @workflow.query
    def state(self) -> OrderState:
        phase = "Placing" if self._placing else (self.status.value if self.status else REJECTED)
        return OrderState(
            order_id=self._order_id,
            phase=phase,
            details=self._details,
            rejection=self._rejection,
            payment_deadline=self._payment_deadline if self.status is OrderStatus.PENDING_PAYMENT else None,
            payment_failures=self._payment_failures,
            compensations_pending=list(reversed(self._compensations)),
            compensations_run=list(self._compensations_run),
        )


def _settles_a_row(message: OrderActionMessage) -> bool:
    """A payment or shipment to settle along with the order: served in turn, even when the order is unchanged."""
    match message:
        case MarkPaid():
            return message.payment_id is not None
        case MarkShipped():
            return message.shipment_id is not None
        case _:
            return False


def _count(event: str, **attributes: str) -> None:
    """Order lifecycle counter (`orderflow_order_events`), exported by the worker; not counted again on replay."""
    workflow.metric_meter().create_counter(
        "orderflow_order_events", "Order lifecycle events: placed, rejected, paid, shipped, ..."
    ).add(1, {"event": event, **attributes})


def _rejection(error: ActivityError | ApplicationError) -> Rejection:
    """The contract error code and message behind a failed step."""
    cause: BaseException | None = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type:
        return Rejection(code=cause.type, message=cause.message)
    return Rejection(code="order_step_failed", message=str(cause or error))
