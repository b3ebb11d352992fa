"""Stand-in activities for unit tests of the order workflow's logic.

They register under the real activity names and keep a tiny in-memory world (stock, reservations, payments), so a
test can see what the workflow asked for and in which order, and can make any step fail.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.order import (
    ActivityName,
    AllocateStock,
    LoadSnapshots,
    OrderDetails,
    OrderRef,
    OrderStatus,
    RecordStatus,
    Reservations,
    ShipShipment,
    SucceedPayment,
    VariantSnapshot,
)


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


@dataclass
class FakeWorld:
    catalog: dict[UUID, VariantSnapshot] = field(default_factory=dict)
    available: Counter[str] = field(default_factory=Counter)
    reservations: dict[UUID, tuple[str, int, str]] = field(default_factory=dict)  # id -> (sku, qty, status)
    keys: dict[str, UUID] = field(default_factory=dict)
    orders: dict[UUID, OrderDetails] = field(default_factory=dict)
    payments: dict[UUID, str] = field(default_factory=dict)  # payment id -> status
    shipments: dict[UUID, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # activity name -> error code to raise (non-retryable)
    broken: set[str] = field(default_factory=set)  # activity names that raise a retryable error on every attempt

    def add_product(self, sku: str, stock: int, price: int = 1000, currency: str = "USD") -> VariantSnapshot:
        snap = snapshot(sku, price, currency)
        self.catalog[snap.product_variant_id] = snap
        self.available[sku] += stock
        return snap

    def reserved(self, status: str = "Active") -> int:
        return sum(qty for _, qty, state in self.reservations.values() if state == status)

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise ApplicationError(f"{name} refused", type=self.fail[name], non_retryable=True)
        if name in self.broken:
            raise RuntimeError(f"{name} is broken")  # not a refusal: Temporal retries it

    @activity.defn(name=ActivityName.LOAD_SNAPSHOTS)
    async def load_snapshots(self, request: LoadSnapshots) -> list[VariantSnapshot]:
        self._step(ActivityName.LOAD_SNAPSHOTS)
        missing = [v for v in request.variant_ids if v not in self.catalog]
        if missing:
            raise ApplicationError("unknown variant", type="catalog_variant_snapshot_not_found", non_retryable=True)
        return [self.catalog[v] for v in request.variant_ids]

    @activity.defn(name=ActivityName.ALLOCATE_STOCK)
    async def allocate(self, request: AllocateStock) -> list[UUID]:
        self._step(ActivityName.ALLOCATE_STOCK)
        wanted: Counter[str] = Counter()
        for line in request.lines:
            if line.idempotency_key not in self.keys:
                wanted[line.sku] += line.quantity
        if any(self.available[sku] < qty for sku, qty in wanted.items()):
            raise ApplicationError("not enough", type="insufficient_stock", non_retryable=True)
        ids: list[UUID] = []
        for line in request.lines:
            if line.idempotency_key not in self.keys:
                reservation_id = uuid.uuid4()
                self.keys[line.idempotency_key] = reservation_id
                self.reservations[reservation_id] = (line.sku, line.quantity, "Active")
                self.available[line.sku] -= line.quantity
            ids.append(self.keys[line.idempotency_key])
        return ids

    @activity.defn(name=ActivityName.RELEASE_STOCK)
    async def release(self, request: Reservations) -> None:
        self._step(ActivityName.RELEASE_STOCK)
        for reservation_id in request.reservation_ids:
            sku, qty, status = self.reservations[reservation_id]
            if status == "Active":
                self.reservations[reservation_id] = (sku, qty, "Released")
                self.available[sku] += qty

    @activity.defn(name=ActivityName.COMMIT_STOCK)
    async def commit(self, request: Reservations) -> None:
        self._step(ActivityName.COMMIT_STOCK)
        for reservation_id in request.reservation_ids:
            sku, qty, status = self.reservations[reservation_id]
            if status == "Active":
                self.reservations[reservation_id] = (sku, qty, "Committed")

    @activity.defn(name=ActivityName.RECORD_ORDER)
    async def record_order(self, order: OrderDetails) -> None:
        self._step(ActivityName.RECORD_ORDER)
        self.orders.setdefault(order.id, order)

    @activity.defn(name=ActivityName.VOID_ORDER)
    async def void_order(self, request: OrderRef) -> None:
        self._step(ActivityName.VOID_ORDER)
        order = self.orders.get(request.order_id)
        if order is not None and order.status is OrderStatus.PENDING_PAYMENT:
            self.orders[request.order_id] = order.model_copy(update={"status": OrderStatus.CANCELLED})

    @activity.defn(name=ActivityName.RECORD_STATUS)
    async def record_status(self, request: RecordStatus) -> None:
        self._step(ActivityName.RECORD_STATUS)
        order = self.orders[request.order_id]
        self.orders[request.order_id] = order.model_copy(update={"status": request.status, "updated_at": request.at})

    @activity.defn(name=ActivityName.SUCCEED_PAYMENT)
    async def succeed_payment(self, request: SucceedPayment) -> None:
        self._step(ActivityName.SUCCEED_PAYMENT)
        if self.payments.get(request.payment_id, "Pending") not in ("Pending", "Succeeded"):
            raise ApplicationError("not pending", type="payment_not_pending", non_retryable=True)
        self.payments[request.payment_id] = "Succeeded"

    @activity.defn(name=ActivityName.CANCEL_PENDING_PAYMENTS)
    async def cancel_pending_payments(self, request: OrderRef) -> int:
        self._step(ActivityName.CANCEL_PENDING_PAYMENTS)
        return 0

    @activity.defn(name=ActivityName.REFUND_PAYMENTS)
    async def refund_payments(self, request: OrderRef) -> int:
        self._step(ActivityName.REFUND_PAYMENTS)
        refunded = [p for p, status in self.payments.items() if status == "Succeeded"]
        for payment_id in refunded:
            self.payments[payment_id] = "Refunded"
        return len(refunded)

    @activity.defn(name=ActivityName.SHIP_SHIPMENT)
    async def ship_shipment(self, request: ShipShipment) -> None:
        self._step(ActivityName.SHIP_SHIPMENT)
        self.shipments[request.shipment_id] = "Shipped"

    @activity.defn(name=ActivityName.CANCEL_PENDING_SHIPMENTS)
    async def cancel_pending_shipments(self, request: OrderRef) -> int:
        self._step(ActivityName.CANCEL_PENDING_SHIPMENTS)
        return 0

    def activities(self) -> list[object]:
        return [
            self.load_snapshots,
            self.allocate,
            self.release,
            self.commit,
            self.record_order,
            self.record_status,
            self.void_order,
            self.succeed_payment,
            self.cancel_pending_payments,
            self.refund_payments,
            self.ship_shipment,
            self.cancel_pending_shipments,
        ]
