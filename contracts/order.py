"""The order workflow's contract: its input, messages, state and the rules that govern its transitions.

Shared by the workflow, its activities, the API and the tests. Field names go on the wire in camelCase.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import assert_never
from uuid import UUID

from contracts.wire import UtcDateTime, WireModel


class OrderStatus(StrEnum):
    DRAFT = "Draft"  # defined by the seed, never produced
    PENDING_PAYMENT = "PendingPayment"
    PAID = "Paid"
    CANCELLED = "Cancelled"
    SHIPPED = "Shipped"
    EXPIRED = "Expired"


TERMINAL_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.SHIPPED, OrderStatus.EXPIRED})


class OrderAction(StrEnum):
    PAY = "mark-paid"
    SHIP = "mark-shipped"
    CANCEL = "cancel"
    EXPIRE = "expire"


class Verdict(StrEnum):
    APPLY = "apply"  # the action changes the order
    NOOP = "noop"  # the target state is already reached: success, nothing changes
    REFUSE = "refuse"


def for_every_action(values: dict[OrderAction, str]) -> dict[OrderAction, str]:
    """`values`, refused at import if an action has none."""
    if set(values) != set(OrderAction):
        raise ValueError(f"no value for {set(OrderAction) - set(values)}")
    return values


REFUSAL_CODES = for_every_action(
    {
        OrderAction.PAY: "order_cannot_be_marked_paid",
        OrderAction.SHIP: "order_cannot_be_marked_shipped",
        OrderAction.CANCEL: "order_cannot_be_cancelled",
        OrderAction.EXPIRE: "order_cannot_be_expired",
    }
)
# A payment succeeds only by moving its order from PendingPayment to Paid: a second payment (the order is already
# Paid or Shipped) is refused with this code and stays Pending, so money taken never exceeds the order's total.
ORDER_ALREADY_PAID = "order_already_paid"

_A, _N, _R = Verdict.APPLY, Verdict.NOOP, Verdict.REFUSE
# The seed's state machine (contract 5.5), with one change beyond it: a Paid order that has not shipped can be
# cancelled (its reservations are released and its payments refunded). One column per action, in this order:
_COLUMNS = (OrderAction.PAY, OrderAction.SHIP, OrderAction.CANCEL, OrderAction.EXPIRE)
_ROWS: dict[OrderStatus, tuple[Verdict, Verdict, Verdict, Verdict]] = {
    #                          PAY  SHIP CANCEL EXPIRE
    OrderStatus.DRAFT:           (_R, _R, _R, _R),  # never produced
    OrderStatus.PENDING_PAYMENT: (_A, _R, _A, _A),
    OrderStatus.PAID:            (_N, _A, _A, _R),
    OrderStatus.SHIPPED:         (_N, _N, _R, _R),
    OrderStatus.CANCELLED:       (_R, _R, _R, _R),
    OrderStatus.EXPIRED:         (_R, _R, _R, _N),
}  # fmt: skip


def transition_table(
    columns: tuple[OrderAction, ...], rows: Mapping[OrderStatus, tuple[Verdict, ...]]
) -> dict[tuple[OrderStatus, OrderAction], Verdict]:
    """Every (status, action) cell of the table; refuses a table that leaves a status or an action out."""
    if set(columns) != set(OrderAction) or len(columns) != len(OrderAction):
        raise ValueError(f"the table needs one column per action, has {columns}")
    if set(rows) != set(OrderStatus):
        raise ValueError(f"the table needs one row per status, lacks {set(OrderStatus) - set(rows)}")
    short = [status for status, verdicts in rows.items() if len(verdicts) != len(columns)]
    if short:
        raise ValueError(f"rows without one verdict per action: {short}")
    return {
        (status, action): verdict
        for status, verdicts in rows.items()
        for action, verdict in zip(columns, verdicts, strict=True)
    }


_RULES = transition_table(_COLUMNS, _ROWS)  # checked once, at import: a missing cell fails every process at start


def decide(action: OrderAction, status: OrderStatus) -> Verdict:
    """What `action` does to an order in `status`."""
    return _RULES[status, action]


_ACTION_WORDS = for_every_action(
    {
        OrderAction.PAY: "marked as paid",
        OrderAction.SHIP: "marked as shipped",
        OrderAction.CANCEL: "cancelled",
        OrderAction.EXPIRE: "expired",
    }
)


def refusal_message(action: OrderAction, status: OrderStatus) -> str:
    return f"An order in status {status.value} cannot be {_ACTION_WORDS[action]}"


def order_stock_key(order_id: UUID, line: int) -> str:
    """The idempotency key an order's workflow reserves its `line` (0-based, in request order) with."""
    return f"order-{order_id}-{line}"


_ORDER_STOCK_KEY = re.compile(r"order-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}-[0-9]+")


def is_order_stock_key(key: str | None) -> bool:
    """Whether a reservation was made by an order's workflow (its stock is the order's to give back or ship)."""
    return key is not None and _ORDER_STOCK_KEY.fullmatch(key) is not None


ORDER_UNCHANGED = "order_unchanged"
"""Error type of an update the run rejects because it would change nothing (a NOOP verdict, a repeated placement).

A rejected update is not written to the run's history, so repeats cannot grow it; the rejection carries the
current `OrderDetails` as its first detail, and the API answers with it (the contract's 200)."""


# --- workflow input and state -------------------------------------------------------------------

# The most lines an order can have: POST /api/orders refuses more, and a cart holds no more, so that any cart
# can be checked out.
MAX_ORDER_LINES = 500


class OrderLineInput(WireModel):
    product_variant_id: UUID
    quantity: int


class PlaceOrder(WireModel):
    """Input of OrderWorkflow: what the client asked for; prices and SKUs come from the catalog."""

    order_id: UUID
    customer_name: str
    customer_email: str
    items: list[OrderLineInput]
    payment_timeout_seconds: int
    # Attempts of each placing step before placing gives up (the step keeps failing for a reason that is not a
    # refusal: a bug, a long outage), gives back what it reserved and rejects the order, instead of holding the
    # stock while it retries forever. 30 attempts are about four minutes with the workflow's retry backoff.
    placement_attempts: int = 30
    # Set only when a run continues as new (its history grew long): the order is placed already, and the new
    # run takes over this state instead of placing it again.
    carried: "OrderCarryOver | None" = None


class OrderItemDetails(WireModel):
    """A line of a placed order (contract 5.4, OrderItemDto); its table row is services.ordering.models.OrderItem."""

    id: UUID
    product_id: UUID
    product_variant_id: UUID
    sku: str
    product_name: str
    variant_name: str
    unit_price_amount_minor: int
    currency: str
    quantity: int
    line_total_amount_minor: int
    inventory_reservation_id: UUID | None


class OrderDetails(WireModel):
    """The order as the API shows it (contract 5.4, OrderDetailsDto)."""

    id: UUID
    customer_name: str
    customer_email: str
    status: OrderStatus
    total_amount_minor: int
    currency: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    items: list[OrderItemDetails]


class Rejection(WireModel):
    """Why an order could not be placed or an action was refused (a contract error code)."""

    code: str
    message: str


class OrderOutcome(WireModel):
    """Result of a finished OrderWorkflow run."""

    order_id: UUID
    status: OrderStatus | None
    rejection: Rejection | None = None


class OrderState(WireModel):
    """Live state of a run, for operators (query `state`)."""

    order_id: UUID
    phase: str  # Placing, Rejected, or the order status
    details: OrderDetails | None
    rejection: Rejection | None
    payment_deadline: UtcDateTime | None
    payment_failures: int
    compensations_pending: list[str]
    compensations_run: list[str]


class OrderCarryOver(WireModel):
    """Everything a run hands to the run that continues it as new: the order goes on exactly where it was."""

    details: OrderDetails
    reservation_ids: list[UUID]
    stock_keys: list[str]
    payment_deadline: UtcDateTime | None
    payment_failures: int
    compensations_pending: list[str]  # in the order they were pushed; run in reverse
    compensations_run: list[str]


PlaceOrder.model_rebuild()


# --- messages -----------------------------------------------------------------------------------


class MarkPaid(WireModel):
    """Payment succeeded (payment_id set) or an operator marks the order paid (no payment_id)."""

    payment_id: UUID | None = None
    provider_reference: str | None = None


class PaymentFailed(WireModel):
    payment_id: UUID
    failure_reason: str | None = None


class MarkShipped(WireModel):
    """A shipment shipped (shipment_id set) or an operator marks the order shipped."""

    shipment_id: UUID | None = None
    carrier: str | None = None
    tracking_number: str | None = None


class CancelOrder(WireModel):
    reason: str | None = None


class ExpireOrder(WireModel):
    reason: str | None = None


OrderActionMessage = MarkPaid | MarkShipped | CancelOrder | ExpireOrder
"""What an order action carries: the message of the workflow update (or signal) that asks for it."""


def action_of(message: OrderActionMessage) -> OrderAction:
    """The action a message asks for."""
    match message:
        case MarkPaid():
            return OrderAction.PAY
        case MarkShipped():
            return OrderAction.SHIP
        case CancelOrder():
            return OrderAction.CANCEL
        case ExpireOrder():
            return OrderAction.EXPIRE
        case _:
            assert_never(message)


# --- activities ---------------------------------------------------------------------------------


class LoadSnapshots(WireModel):
    variant_ids: list[UUID]


class VariantSnapshot(WireModel):
    product_id: UUID
    product_variant_id: UUID
    sku: str
    product_name: str
    variant_name: str
    price_amount_minor: int
    currency: str


def placed_order(
    order: PlaceOrder,
    snapshots: Sequence[VariantSnapshot],
    reservation_ids: Sequence[UUID],
    now: datetime,
    new_id: Callable[[], UUID],
) -> OrderDetails:
    """The order as placed, PendingPayment: a line per item, priced from its catalog snapshot and holding its
    reservation, sorted by SKU. `now` and `new_id` are the caller's clock and ids (the workflow's, in a run)."""
    items = [
        OrderItemDetails(
            id=new_id(),
            product_id=snapshot.product_id,
            product_variant_id=snapshot.product_variant_id,
            sku=snapshot.sku,
            product_name=snapshot.product_name,
            variant_name=snapshot.variant_name,
            unit_price_amount_minor=snapshot.price_amount_minor,
            currency=snapshot.currency,
            quantity=item.quantity,
            line_total_amount_minor=snapshot.price_amount_minor * item.quantity,
            inventory_reservation_id=reservation_id,
        )
        for snapshot, item, reservation_id in zip(snapshots, order.items, reservation_ids, strict=True)
    ]
    return OrderDetails(
        id=order.order_id,
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        status=OrderStatus.PENDING_PAYMENT,
        total_amount_minor=sum(item.line_total_amount_minor for item in items),
        currency=snapshots[0].currency,
        created_at=now,
        updated_at=now,
        items=sorted(items, key=lambda item: item.sku),
    )


class StockLine(WireModel):
    sku: str
    quantity: int
    idempotency_key: str


class AllocateStock(WireModel):
    reference: str
    lines: list[StockLine]


class Reservations(WireModel):
    reservation_ids: list[UUID]


class ReleaseByKeys(WireModel):
    """An order's reservations, by the idempotency keys it allocated them with (whether or not it learnt their ids)."""

    idempotency_keys: list[str]


class RecordStatus(WireModel):
    order_id: UUID
    status: OrderStatus
    at: datetime


class OrderRef(WireModel):
    order_id: UUID


class SucceedPayment(WireModel):
    payment_id: UUID
    provider_reference: str | None = None


class ShipShipment(WireModel):
    shipment_id: UUID
    carrier: str | None = None
    tracking_number: str | None = None
