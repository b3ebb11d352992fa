"""OrderWorkflow: one run per order, workflow id `order-<orderId>`. The whole lifecycle, top to bottom:

1. load trusted snapshots of every ordered variant from the catalog; refuse mixed currencies;
2. reserve stock for every line (one inventory activity, all or nothing, idempotent per line);
3. record the order in the ordering store -> PendingPayment;
   each of steps 1-3 gets `placement_attempts`; if one runs out the order is rejected, nothing stays reserved;
4. wait for payment, at most the payment timeout (a durable timer):
   paid -> Paid; cancelled -> Cancelled; timer fires or an operator expires it -> Expired;
   a provider's authorization (a hint: webhook, shop's return, reconciliation) is re-read from the provider and
   pays the order only if it holds exactly the order's total; any other authorization is voided;
5. wait for shipment: shipped -> capture the provider's authorization -> commit every reservation (on-hand
   decreases) -> Shipped; cancelled -> Cancelled, and every succeeded payment is given back (refunded if captured,
   voided if only authorized); an authorization about to lapse (a durable timer) cancels the order the same way.

Every step that takes something (a reservation, a payment) pushes its compensation before it runs, so a step
whose effect committed but whose answer was lost is still given back; cancelling, expiring or a failed placement
runs them in reverse, so nothing is left behind. Callers reach the run through updates (they get the resulting
order back, or the contract's error code), signals (fire and forget, from any Temporal client) and queries. An
update that would change nothing is rejected by its validator, so it never reaches the history; the run
continues as new, carrying its state, when Temporal suggests it. The run ends once the order is Shipped,
Cancelled or Expired (or was never placed). How a step runs (local or ordinary activity, retries) and how
actions wait their turn is `workflows/steps.py`.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.activities import CatalogSteps, FulfillmentSteps, InventorySteps, OrderingSteps, PaymentSteps
    from contracts.order import (
        ORDER_ALREADY_PAID,
        ORDER_UNCHANGED,
        REFUSAL_CODES,
        TERMINAL_STATUSES,
        AllocateStock,
        CancelOrder,
        CapturePayment,
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
        SecurePayment,
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
    from workflows.steps import ActionQueue, Steps, count, rejection_of

REJECTED = "Rejected"  # OrderStatus search-attribute value of a run whose order could not be placed

RELEASE_STOCK = "release stock"
VOID_ORDER = "void order"
REFUND_PAYMENTS = "refund payments"

AUTHORIZATION_LAPSED = "the payment's authorization would lapse before shipping"


def workflow_id(order_id: UUID) -> str:
    return f"order-{order_id}"


def stock_keys(order_id: UUID, lines: int) -> list[str]:
    """The idempotency keys of an order's reservations, one per line in request order."""
    return [order_stock_key(order_id, n) for n in range(lines)]


# Not sandboxed: building a sandbox for every new order cost ~15-20 ms of worker CPU per placement. The
# workflow imports only temporalio, the stdlib and `contracts`, calls nothing non-deterministic, and the
# recorded histories in tests/workflows/histories are replayed in CI to catch any change that breaks replay.
@workflow.defn(sandboxed=False)
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: PlaceOrder) -> None:
        self._order_id = order.order_id
        self._placing = True
        self._details: OrderDetails | None = None
        self._rejection: Rejection | None = None
        self._reservation_ids: list[UUID] = []
        self._stock_keys: list[str] = []
        self._payment_deadline: datetime | None = None
        self._authorization_deadline: datetime | None = None  # when the provider stops holding the payment
        self._payment_failures = 0
        self._shipping = False  # the stock is being committed: the order ships even if the run is cancelled
        self._compensations: list[str] = []  # names, in the order pushed; run in reverse
        self._compensations_run: list[str] = []
        self._compensation_steps: dict[str, Callable[[], Awaitable[None]]] = {
            RELEASE_STOCK: self._release_stock,
            VOID_ORDER: self._void_order,
            REFUND_PAYMENTS: self._refund_payments,
        }
        self._steps = Steps()
        self._queue = ActionQueue(self._serve, self._steps)

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
            self._steps.next_action()  # placed: from here on, every step serves an action
            while not self._finished():
                if workflow.cancellation_reason() is not None:
                    # Cancelled while a step was in flight: the step was waited for (it may have taken a payment)
                    # and its action finished; now the order is cancelled and gives everything back.
                    raise asyncio.CancelledError()
                if self._queue.may_continue_as_new():
                    workflow.continue_as_new(order.model_copy(update={"carried": self._carry_over()}))
                if not await self._queue.wait(self._woken, self._timer_due()):
                    # The deadline passed: the fired timer (or, for a continued run, the deadline it was started
                    # with) is in the history before any step runs, as a run's start is while placing. Nothing has
                    # to be made durable first, so every step can be local.
                    self._steps.in_history()
                    if self.status is OrderStatus.PENDING_PAYMENT:
                        await self._expire(ExpireOrder(reason="payment timeout"))
                    else:
                        # Not shipped while the provider held the money: an order shipped after its authorization
                        # lapsed could not be captured, so it is cancelled while the stock and the money can still
                        # both be given back (docs/lifecycle.md).
                        await self._cancel(CancelOrder(reason=AUTHORIZATION_LAPSED))
                elif self._queue.waiting:
                    await self._queue.serve_next()
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
            snapshots = await self._steps.run_placing(
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
            self._reservation_ids = await self._steps.run_placing(
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
            await self._steps.run_placing(OrderingSteps.record_order, details, attempts)
            self._drop_compensation(VOID_ORDER)  # recorded: a cancel or expiry records its own status
        except (ActivityError, ApplicationError) as error:
            await self._compensate()
            self._rejection = rejection_of(error)
            self._placing = False
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(REJECTED)])
            count("rejected")
            workflow.set_current_details(f"Rejected: {self._rejection.code}")
            return False
        self._details = details
        self._placing = False
        count("placed")
        self._describe()
        workflow.upsert_search_attributes(
            [
                ORDER_STATUS.value_set(details.status.value),
                ORDER_TOTAL_MINOR.value_set(details.total_amount_minor),
            ]
        )
        return True

    # --- 4-5. serving actions until the order is finished ----------------------------------------

    def _payment_due(self) -> datetime | None:
        """When the payment timer fires: only an order waiting for payment has one."""
        return self._payment_deadline if self.status is OrderStatus.PENDING_PAYMENT else None

    def _timer_due(self) -> datetime | None:
        """When the run's timer fires: the payment deadline while unpaid, the authorization's lapse while paid."""
        if self.status is OrderStatus.PAID:
            return self._authorization_deadline
        return self._payment_due()

    def _woken(self) -> bool:
        return self._finished() or self._queue.may_continue_as_new()

    def _finished(self) -> bool:
        return self.status in TERMINAL_STATUSES and not self._queue.waiting and workflow.all_handlers_finished()

    async def _serve(self, message: OrderActionMessage) -> None:
        """Serve one action as the transition table decides; a refusal is raised as its contract error code."""
        assert self.status is not None  # actions are served only once the order is placed
        action = action_of(message)
        verdict = decide(action, self.status)
        if verdict is Verdict.REFUSE:
            raise ApplicationError(refusal_message(action, self.status), type=REFUSAL_CODES[action])
        match message:
            case MarkPaid():
                await self._pay(message, verdict)
            case MarkShipped():
                await self._ship(message, verdict)
            case CancelOrder():
                await self._cancel(message)
            case ExpireOrder():
                if verdict is Verdict.APPLY:
                    await self._expire(message)

    async def _pay(self, message: MarkPaid, verdict: Verdict) -> None:
        """PendingPayment -> Paid. The payment succeeds first; the stock stays reserved until shipment.

        A payment succeeds only by paying the order: on an order already Paid (or Shipped) it is refused and stays
        Pending, so no second payment is taken.
        """
        if message.authorized:
            await self._secure(message, payable=verdict is Verdict.APPLY)
            return
        if verdict is not Verdict.APPLY:
            if message.payment_id is not None:
                raise ApplicationError(
                    f"Order {self._order_id} is already paid; the payment was not taken", type=ORDER_ALREADY_PAID
                )
            return
        # pushed before the payment succeeds: a cancel that interrupts the step refunds it all the same
        self._push_compensation(REFUND_PAYMENTS)
        if message.payment_id is not None:
            await self._steps.run(
                PaymentSteps.mark_succeeded,
                SucceedPayment(payment_id=message.payment_id, provider_reference=message.provider_reference),
            )
        await self._transition(OrderStatus.PAID)

    async def _secure(self, message: MarkPaid, *, payable: bool) -> None:
        """A provider reported the payment authorized: re-read it. It pays the order (PendingPayment -> Paid) only
        if it holds exactly the order's total while the order awaits payment; otherwise it is voided."""
        assert message.payment_id is not None and self._details is not None
        if payable:
            self._push_compensation(REFUND_PAYMENTS)  # before the payment succeeds, as in `_pay`
        secured = await self._steps.run(
            PaymentSteps.secure,
            SecurePayment(
                payment_id=message.payment_id,
                amount_minor=self._details.total_amount_minor,
                currency=self._details.currency,
                payable=payable,
            ),
        )
        if not payable:
            return
        if not secured.secured:
            self._drop_compensation(REFUND_PAYMENTS)  # nothing was taken
            return
        self._authorization_deadline = secured.valid_until
        await self._transition(OrderStatus.PAID)

    async def _ship(self, message: MarkShipped, verdict: Verdict) -> None:
        """Paid -> Shipped: the provider's authorization is captured (the order's total), the shipment is claimed
        (Pending -> Shipped, refused if it was cancelled), then every reservation is committed (on-hand decreases
        once) and the order is Shipped."""
        if verdict is Verdict.APPLY:
            assert self._details is not None
            await self._steps.run(
                PaymentSteps.capture,
                CapturePayment(order_id=self._order_id, amount_minor=self._details.total_amount_minor),
            )
        if message.shipment_id is not None:
            await self._steps.run(
                FulfillmentSteps.mark_shipped,
                ShipShipment(
                    shipment_id=message.shipment_id, carrier=message.carrier, tracking_number=message.tracking_number
                ),
            )
        if verdict is Verdict.APPLY:
            self._shipping = True
            await self._commit_stock()

    async def _commit_stock(self) -> None:
        await self._steps.run(InventorySteps.commit, Reservations(reservation_ids=self._reservation_ids))
        self._compensations.clear()  # the goods left the warehouse: nothing is given back any more
        await self._transition(OrderStatus.SHIPPED)

    async def _cancel(self, message: CancelOrder) -> None:
        """PendingPayment or Paid -> Cancelled: refund and release in reverse, drop pending payments/shipments."""
        await self._compensate()
        # Cancelled is recorded first: a shipment created concurrently either saw the order Paid, committed
        # before this status (its row lock) and is cancelled below, or sees Cancelled and is refused.
        await self._transition(OrderStatus.CANCELLED)
        await self._steps.run(PaymentSteps.cancel_pending, OrderRef(order_id=self._order_id))
        await self._steps.run(FulfillmentSteps.cancel_pending, OrderRef(order_id=self._order_id))

    async def _expire(self, message: ExpireOrder) -> None:
        """PendingPayment -> Expired (payment timeout or an operator): release the stock, drop pending payments."""
        await self._compensate()
        await self._steps.run(PaymentSteps.cancel_pending, OrderRef(order_id=self._order_id))
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
            count("compensation", step=name)

    async def _release_stock(self) -> None:
        # by the order's keys: also releases an allocation whose answer (the reservation ids) was lost
        await self._steps.run(InventorySteps.release_by_keys, ReleaseByKeys(idempotency_keys=self._stock_keys))

    async def _void_order(self) -> None:
        await self._steps.run(OrderingSteps.void, OrderRef(order_id=self._order_id))

    async def _refund_payments(self) -> None:
        await self._steps.run(PaymentSteps.refund, OrderRef(order_id=self._order_id))

    # --- state -----------------------------------------------------------------------------------

    @property
    def status(self) -> OrderStatus | None:
        return self._details.status if self._details is not None else None

    async def _transition(self, status: OrderStatus) -> None:
        assert self._details is not None
        now = workflow.now()
        await self._steps.run(OrderingSteps.record_status, RecordStatus(order_id=self._order_id, status=status, at=now))
        self._details = self._details.model_copy(update={"status": status, "updated_at": now})
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        count(status.value.lower())
        self._describe()

    def _describe(self) -> None:
        """The one-line summary Temporal Web shows for this run: no customer data in it."""
        assert self._details is not None
        order = self._details
        workflow.set_current_details(
            run_summary(len(order.items), order.status.value, order.total_amount_minor, order.currency)
        )

    # --- continuing as new -----------------------------------------------------------------------

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
            authorization_deadline=self._authorization_deadline,
        )

    def _take_over(self, carried: OrderCarryOver) -> None:
        """Go on where the previous run stopped: the order is placed, its compensations still to run."""
        self._details = carried.details
        self._reservation_ids = carried.reservation_ids
        self._stock_keys = carried.stock_keys
        self._payment_deadline = carried.payment_deadline
        self._authorization_deadline = carried.authorization_deadline
        self._payment_failures = carried.payment_failures
        self._compensations = list(carried.compensations_pending)
        self._compensations_run = list(carried.compensations_run)
        self._placing = False
        self._describe()

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
        if self._placing or self.status is None or self._queue.busy:
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
        await self._queue.submit(message)
        assert self._details is not None
        return self._details

    @workflow.signal
    def payment_succeeded(self, message: MarkPaid) -> None:
        """A payment succeeded, or (`authorized`) a provider reports one authorized: a hint the run re-reads."""
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
        self._queue.enqueue(message)

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
            payment_deadline=self._payment_due(),
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
