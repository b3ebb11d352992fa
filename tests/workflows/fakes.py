"""Stand-in activities for unit tests of the order workflow's logic.

They implement the interfaces of contracts.activities, so they register under the real activity names, and share a
tiny in-memory world (stock, reservations, payments), so a test can see what the workflow asked for and in which
order, and can make any step fail.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.order_workflows import unchanged_order
from contracts.activities import (
    ActivityContract,
    CatalogSteps,
    FulfillmentSteps,
    InventorySteps,
    OrderingSteps,
    PaymentSteps,
    bound_activities,
)
from contracts.order import (
    AllocateStock,
    CapturePayment,
    IntentHint,
    LoadSnapshots,
    OrderDetails,
    OrderOutcome,
    OrderRef,
    OrderStatus,
    PaymentSecured,
    ReconcileIntents,
    RecordStatus,
    ReleaseByKeys,
    Reservations,
    SecurePayment,
    ShipShipment,
    SucceedPayment,
    VariantSnapshot,
)
from workflows.order import OrderWorkflow


def snapshot(sku: str, price: int = 1000, currency: str = "USD") -> VariantSnapshot:
    return VariantSnapshot(
        product_id=uuid.uuid4(),
        product_variant_id=uuid.uuid4(),
        sku=sku,
        product_name=f"Product {sku}",
        variant_name="Default",
        price_amount_minor=price,
        currency=currency,
    )


async def placed(handle: WorkflowHandle[OrderWorkflow, OrderOutcome]) -> OrderDetails:
    """The placed order, as the API gets it: from `wait_placed`, or from its rejection once placing is over."""
    try:
        return await handle.execute_update(OrderWorkflow.wait_placed)
    except WorkflowUpdateFailedError as error:
        order = unchanged_order(error)
        if order is None:
            raise
        return order


@dataclass
class FakeWorld:
    catalog: dict[UUID, VariantSnapshot] = field(default_factory=dict)
    available: Counter[str] = field(default_factory=Counter)
    reservations: dict[UUID, tuple[str, int, str]] = field(default_factory=dict)  # id -> (sku, qty, status)
    keys: dict[str, UUID] = field(default_factory=dict)
    orders: dict[UUID, OrderDetails] = field(default_factory=dict)
    payments: dict[UUID, str] = field(default_factory=dict)  # payment id -> status
    # a provider's PaymentIntent per payment: (status as Stripe names it, amount, currency)
    intents: dict[UUID, tuple[str, int, str]] = field(default_factory=dict)
    authorization_valid: timedelta = timedelta(days=7)
    shipments: dict[UUID, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # activity name -> error code to raise (non-retryable)
    broken: set[str] = field(default_factory=set)  # activity names that raise a retryable error on every attempt
    lost: set[str] = field(default_factory=set)  # activity names whose effect commits but whose answer is lost
    held: dict[str, tuple[asyncio.Event, asyncio.Event]] = field(default_factory=dict)  # name -> (entered, go on)

    def add_product(self, sku: str, stock: int, price: int = 1000, currency: str = "USD") -> VariantSnapshot:
        snap = snapshot(sku, price, currency)
        self.catalog[snap.product_variant_id] = snap
        self.available[sku] += stock
        return snap

    def authorize(self, payment_id: UUID, amount: int, currency: str = "USD") -> None:
        """A card confirmed at the provider: the intent holds `amount` (the payment is still Pending with us)."""
        self.payments.setdefault(payment_id, "Pending")
        self.intents[payment_id] = ("requires_capture", amount, currency)

    def intent_status(self, payment_id: UUID) -> str:
        return self.intents[payment_id][0]

    def _set_intent(self, payment_id: UUID, status: str) -> None:
        _, amount, currency = self.intents[payment_id]
        self.intents[payment_id] = (status, amount, currency)

    def reserved(self, status: str = "Active") -> int:
        return sum(qty for _, qty, state in self.reservations.values() if state == status)

    def step(self) -> None:
        """Record the running activity's call; fail it as the test asked."""
        name = activity.info().activity_type
        self.calls.append(name)
        if name in self.fail:
            raise ApplicationError(f"{name} refused", type=self.fail[name], non_retryable=True)
        if name in self.broken:
            raise RuntimeError(f"{name} is broken")  # not a refusal: Temporal retries it

    def hold(self, activity_name: str) -> tuple[asyncio.Event, asyncio.Event]:
        """Make the activity wait, once started, until the test lets it go on: (it has started, let it go on)."""
        self.held[activity_name] = (asyncio.Event(), asyncio.Event())
        return self.held[activity_name]

    async def wait_if_held(self) -> None:
        held = self.held.get(activity.info().activity_type)
        if held is not None:
            entered, go_on = held
            entered.set()
            await go_on.wait()

    def answer(self) -> None:
        """The running activity's effect has committed: lose its answer if the test asked for it."""
        name = activity.info().activity_type
        if name in self.lost:
            raise RuntimeError(f"{name} committed, but its answer was lost")  # not a refusal: Temporal retries it

    def activities(self) -> list[Callable[..., Any]]:
        """A stand-in for every activity of contracts.activities, sharing this world."""
        stand_ins = [stand_in(self) for stand_in in STAND_INS]
        return [step for stand_in in stand_ins for step in bound_activities(stand_in)]


class FakeCatalog(CatalogSteps):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def load_snapshots(self, request: LoadSnapshots) -> list[VariantSnapshot]:
        self.world.step()
        missing = [v for v in request.variant_ids if v not in self.world.catalog]
        if missing:
            raise ApplicationError("unknown variant", type="catalog_variant_snapshot_not_found", non_retryable=True)
        return [self.world.catalog[v] for v in request.variant_ids]


class FakeInventory(InventorySteps):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def allocate(self, request: AllocateStock) -> list[UUID]:
        self.world.step()
        wanted: Counter[str] = Counter()
        for line in request.lines:
            if line.idempotency_key not in self.world.keys:
                wanted[line.sku] += line.quantity
        if any(self.world.available[sku] < qty for sku, qty in wanted.items()):
            raise ApplicationError("not enough", type="insufficient_stock", non_retryable=True)
        ids: list[UUID] = []
        for line in request.lines:
            if line.idempotency_key not in self.world.keys:
                reservation_id = uuid.uuid4()
                self.world.keys[line.idempotency_key] = reservation_id
                self.world.reservations[reservation_id] = (line.sku, line.quantity, "Active")
                self.world.available[line.sku] -= line.quantity
            ids.append(self.world.keys[line.idempotency_key])
        self.world.answer()
        return ids

    async def release_by_keys(self, request: ReleaseByKeys) -> None:
        self.world.step()
        for reservation_id in [self.world.keys[key] for key in request.idempotency_keys if key in self.world.keys]:
            sku, qty, status = self.world.reservations[reservation_id]
            if status == "Active":
                self.world.reservations[reservation_id] = (sku, qty, "Released")
                self.world.available[sku] += qty

    async def commit(self, request: Reservations) -> None:
        self.world.step()
        for reservation_id in request.reservation_ids:
            sku, qty, status = self.world.reservations[reservation_id]
            if status == "Active":
                self.world.reservations[reservation_id] = (sku, qty, "Committed")


class FakeOrdering(OrderingSteps):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def record_order(self, order: OrderDetails) -> None:
        self.world.step()
        self.world.orders.setdefault(order.id, order)

    async def void(self, request: OrderRef) -> None:
        self.world.step()
        order = self.world.orders.get(request.order_id)
        if order is not None and order.status is OrderStatus.PENDING_PAYMENT:
            self.world.orders[request.order_id] = order.model_copy(update={"status": OrderStatus.CANCELLED})

    async def record_status(self, request: RecordStatus) -> None:
        self.world.step()
        order = self.world.orders[request.order_id]
        self.world.orders[request.order_id] = order.model_copy(
            update={"status": request.status, "updated_at": request.at}
        )


class FakePayment(PaymentSteps):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def mark_succeeded(self, request: SucceedPayment) -> None:
        self.world.step()
        await self.world.wait_if_held()
        if self.world.payments.get(request.payment_id, "Pending") not in ("Pending", "Succeeded"):
            raise ApplicationError("not pending", type="payment_not_pending", non_retryable=True)
        self.world.payments[request.payment_id] = "Succeeded"

    async def cancel_pending(self, request: OrderRef) -> int:
        self.world.step()
        pending = [p for p, status in self.world.payments.items() if status == "Pending"]
        for payment_id in pending:
            if payment_id in self.world.intents and self.world.intent_status(payment_id) == "requires_capture":
                self.world._set_intent(payment_id, "canceled")
            self.world.payments[payment_id] = "Cancelled"
        return len(pending)

    async def refund(self, request: OrderRef) -> int:
        self.world.step()
        refunded = [p for p, status in self.world.payments.items() if status == "Succeeded"]
        for payment_id in refunded:
            if payment_id in self.world.intents:
                captured = self.world.intent_status(payment_id) == "succeeded"
                self.world._set_intent(payment_id, "refunded" if captured else "canceled")
            self.world.payments[payment_id] = "Refunded"
        return len(refunded)

    async def secure(self, request: SecurePayment) -> PaymentSecured:
        self.world.step()
        valid_until = activity.info().current_attempt_scheduled_time + self.world.authorization_valid
        if self.world.payments.get(request.payment_id) == "Succeeded":
            return PaymentSecured(secured=True, valid_until=valid_until)
        status, amount, currency = self.world.intents[request.payment_id]
        if status != "requires_capture":
            return PaymentSecured(secured=False)
        if request.payable and (amount, currency) == (request.amount_minor, request.currency):
            self.world.payments[request.payment_id] = "Succeeded"
            return PaymentSecured(secured=True, valid_until=valid_until)
        self.world._set_intent(request.payment_id, "canceled")
        self.world.payments[request.payment_id] = "Cancelled"
        return PaymentSecured(secured=False)

    async def capture(self, request: CapturePayment) -> int:
        self.world.step()
        await self.world.wait_if_held()
        captured = 0
        for payment_id, (status, _, _) in list(self.world.intents.items()):
            if self.world.payments.get(payment_id) == "Succeeded" and status == "requires_capture":
                self.world._set_intent(payment_id, "succeeded")
                captured += 1
        self.world.answer()
        return captured

    async def reconcile(self, request: ReconcileIntents) -> list[IntentHint]:
        self.world.step()
        return []


class FakeFulfillment(FulfillmentSteps):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def mark_shipped(self, request: ShipShipment) -> None:
        self.world.step()
        if self.world.shipments.get(request.shipment_id, "Pending") not in ("Pending", "Shipped"):
            raise ApplicationError("not pending", type="shipment_cannot_be_shipped", non_retryable=True)
        self.world.shipments[request.shipment_id] = "Shipped"

    async def cancel_pending(self, request: OrderRef) -> int:
        self.world.step()
        return 0


# One stand-in per interface of contracts.activities.ACTIVITY_CONTRACTS (tests/workflows/test_activity_contracts.py).
STAND_INS: tuple[Callable[[FakeWorld], ActivityContract], ...] = (
    FakeCatalog,
    FakeInventory,
    FakeOrdering,
    FakePayment,
    FakeFulfillment,
)
