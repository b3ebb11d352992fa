"""The order workflow's contract: its input, messages, state and the rules that govern its transitions.

Shared by the workflow, its activities, the API and the tests. Field names go on the wire in camelCase.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
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
    """An action on a placed order; its value is its REST path segment (`POST /api/orders/{id}/<value>`)."""

    PAY = "mark-paid"
    SHIP = "mark-shipped"
    CANCEL = "cancel"
    EXPIRE = "expire"


class Verdict(StrEnum):
    APPLY = "apply"  # the action changes the order
    NOOP = "noop"  # the target state is already reached: success, nothing changes
    REFUSE = "refuse"


class Caller(StrEnum):
    """Who may ask for an action over the API."""

    ANYONE = "anyone"  # the customer, who knows the order's id (the seed's cancel)
    OPERATOR = "operator"  # an operator token


class StockState(StrEnum):
    """What an order's stock reservations are once an action has applied."""

    ACTIVE = "Active"
    COMMITTED = "Committed"
    RELEASED = "Released"


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    default: str = ""


@dataclass(frozen=True)
class ConsoleButton:
    """How the operator console offers an action on the order page, in the statuses where it applies."""

    label: str
    notice: str  # shown once it worked
    style: str = ""  # the button's class: "danger", "secondary"
    path: str = ""  # the console's form path segment, when not the action's own
    fields: tuple[FormField, ...] = ()
    label_in: Mapping[OrderStatus, str] = field(default_factory=dict)  # a status's own wording of the label

    def label_for(self, status: OrderStatus) -> str:
        return self.label_in.get(status, self.label)


@dataclass(frozen=True)
class ActionSpec:
    """Everything about one order action: its rule, its refusal, its message, its route, its console button.

    The transition table, the refusal codes, `action_of`, the REST routes, the console's buttons and the
    invariant checks all read these; adding an action is one entry here plus its step in the workflow.
    """

    action: OrderAction
    sent: "OrderActionMessage"  # the message a REST call or console button sends; its class names the action
    update: str  # the `OrderWorkflow` update that asks for it
    applies_from: frozenset[OrderStatus]
    to: OrderStatus  # the status it leaves the order in when it applies
    noop_in: frozenset[OrderStatus]  # already done: success, nothing changes; every other status refuses
    refusal_code: str
    words: str  # "An order in status X cannot be <words>"
    caller: Caller
    route_name: str  # the REST handler's name: its OpenAPI operation id and summary
    route_doc: str
    stock: StockState | None = None  # what the action does to the reserved stock; None leaves it as it was
    console: ConsoleButton | None = None

    def verdict(self, status: OrderStatus) -> Verdict:
        if status in self.applies_from:
            return Verdict.APPLY
        return Verdict.NOOP if status in self.noop_in else Verdict.REFUSE


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
    authorization_deadline: UtcDateTime | None = None


PlaceOrder.model_rebuild()


# --- messages -----------------------------------------------------------------------------------


class MarkPaid(WireModel):
    """Payment succeeded (payment_id set) or an operator marks the order paid (no payment_id).

    `authorized`: the provider reported the payment's PaymentIntent authorized (a webhook, the shop's return, the
    reconciliation). That is only a hint: the run re-reads the intent, and the order is paid only if it holds
    exactly the order's total while the order awaits payment; any other authorization is voided.
    """

    payment_id: UUID | None = None
    provider_reference: str | None = None
    authorized: bool = False


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


# --- the actions ----------------------------------------------------------------------------------

_S = OrderStatus
# The seed's state machine (contract 5.5), with one change beyond it: a Paid order that has not shipped can be
# cancelled (its reservations are released and its payments refunded).
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        action=OrderAction.PAY,
        sent=MarkPaid(),
        update="mark_paid",
        applies_from=frozenset({_S.PENDING_PAYMENT}),
        to=_S.PAID,
        noop_in=frozenset({_S.PAID, _S.SHIPPED}),
        refusal_code="order_cannot_be_marked_paid",
        words="marked as paid",
        caller=Caller.OPERATOR,
        route_name="mark_order_paid",
        route_doc="PendingPayment -> Paid; stock stays reserved. A no-op on Paid and Shipped orders.",
    ),
    ActionSpec(
        action=OrderAction.SHIP,
        sent=MarkShipped(),
        update="mark_shipped",
        applies_from=frozenset({_S.PAID}),
        to=_S.SHIPPED,
        noop_in=frozenset({_S.SHIPPED}),
        refusal_code="order_cannot_be_marked_shipped",
        words="marked as shipped",
        caller=Caller.OPERATOR,
        route_name="mark_order_shipped",
        route_doc="Paid -> Shipped: every reservation is committed. A no-op on Shipped orders.",
        stock=StockState.COMMITTED,
        # the console ships through a shipment, so that the carrier and tracking number are kept
        console=ConsoleButton(
            label="Create shipment and ship",
            notice="The order was shipped.",
            path="ship",
            fields=(FormField("carrier", "Carrier", "DHL"), FormField("tracking_number", "Tracking number")),
        ),
    ),
    ActionSpec(
        action=OrderAction.CANCEL,
        sent=CancelOrder(),
        update="cancel",
        applies_from=frozenset({_S.PENDING_PAYMENT, _S.PAID}),
        to=_S.CANCELLED,
        noop_in=frozenset(),
        refusal_code="order_cannot_be_cancelled",
        words="cancelled",
        caller=Caller.ANYONE,
        route_name="cancel_order",
        route_doc="PendingPayment or Paid (not shipped) -> Cancelled: stock released, payments refunded.\n\n"
        "Strict, as the seed's: cancelling a cancelled order is refused, except for a retry with the same\n"
        "`Idempotency-Key`, which gets the first attempt's outcome.",
        stock=StockState.RELEASED,
        console=ConsoleButton(
            label="Cancel order",
            notice="The order was cancelled.",
            style="danger",
            label_in={_S.PAID: "Cancel order and refund"},
        ),
    ),
    ActionSpec(
        action=OrderAction.EXPIRE,
        sent=ExpireOrder(reason="operator"),
        update="expire",
        applies_from=frozenset({_S.PENDING_PAYMENT}),
        to=_S.EXPIRED,
        noop_in=frozenset({_S.EXPIRED}),
        refusal_code="order_cannot_be_expired",
        words="expired",
        caller=Caller.OPERATOR,
        route_name="expire_order",
        route_doc="PendingPayment -> Expired: stock released. Expiring an expired order is a no-op.",
        stock=StockState.RELEASED,
        console=ConsoleButton(label="Expire now", notice="The order was expired.", style="secondary"),
    ),
)


def specs_by_action(specs: Sequence[ActionSpec]) -> dict[OrderAction, ActionSpec]:
    """The specs by action, refused at import unless there is exactly one per action and each is consistent."""
    by_action = {spec.action: spec for spec in specs}
    if len(by_action) != len(specs) or set(by_action) != set(OrderAction):
        raise ValueError(f"one spec per action is needed, got {[spec.action for spec in specs]}")
    for spec in specs:
        if spec.applies_from & spec.noop_in:
            raise ValueError(f"{spec.action}: both applies and is a no-op in {spec.applies_from & spec.noop_in}")
    if len({type(spec.sent) for spec in specs}) != len(specs):
        raise ValueError("each action needs its own message class")
    return by_action


SPECS = specs_by_action(ACTIONS)  # checked once, at import: a malformed spec fails every process at start
_ACTION_OF_MESSAGE = {type(spec.sent): spec.action for spec in ACTIONS}

REFUSAL_CODES = {spec.action: spec.refusal_code for spec in ACTIONS}
# A payment succeeds only by moving its order from PendingPayment to Paid: a second payment (the order is already
# Paid or Shipped) is refused with this code and stays Pending, so money taken never exceeds the order's total.
ORDER_ALREADY_PAID = "order_already_paid"


def transition_table(specs: Sequence[ActionSpec]) -> dict[tuple[OrderStatus, OrderAction], Verdict]:
    """Every (status, action) cell: each spec's column."""
    return {(status, spec.action): spec.verdict(status) for spec in specs for status in OrderStatus}


_RULES = transition_table(ACTIONS)


def decide(action: OrderAction, status: OrderStatus) -> Verdict:
    """What `action` does to an order in `status`."""
    return _RULES[status, action]


def sources(specs: Sequence[ActionSpec]) -> dict[OrderStatus, frozenset[OrderStatus]]:
    """For each status an action leads to, the statuses it is reached from (where such an action applies)."""
    found: dict[OrderStatus, frozenset[OrderStatus]] = {}
    for spec in specs:
        found[spec.to] = found.get(spec.to, frozenset()) | spec.applies_from
    return found


_SOURCES = sources(ACTIONS)


def reached_from(status: OrderStatus) -> frozenset[OrderStatus]:
    """The statuses an order may move to `status` from; none for a status no action leads to."""
    return _SOURCES.get(status, frozenset())


def refusal_message(action: OrderAction, status: OrderStatus) -> str:
    return f"An order in status {status.value} cannot be {SPECS[action].words}"


def action_of(message: OrderActionMessage) -> OrderAction:
    """The action a message asks for."""
    return _ACTION_OF_MESSAGE[type(message)]


def stock_by_status(specs: Sequence[ActionSpec]) -> dict[OrderStatus, StockState]:
    """What an order's reservations are in each status it can reach: Active once placed, then as each action
    that applies leaves them (an action that does not touch the stock keeps its source status's)."""
    found = {OrderStatus.PENDING_PAYMENT: StockState.ACTIVE}
    reached = [OrderStatus.PENDING_PAYMENT]
    while reached:
        source = reached.pop()
        for spec in specs:
            if source not in spec.applies_from:
                continue
            stock = spec.stock or found[source]
            if spec.to not in found:
                found[spec.to] = stock
                reached.append(spec.to)
            elif found[spec.to] is not stock:
                raise ValueError(f"{spec.to} is reached with {found[spec.to]} and with {stock} reservations")
    return found


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


class SecurePayment(WireModel):
    """Re-read a provider payment's intent: does it pay the order (`amount_minor` in `currency`)? Voided if not,
    or if the order is not `payable` (no longer awaiting payment)."""

    payment_id: UUID
    amount_minor: int
    currency: str
    payable: bool


class PaymentSecured(WireModel):
    """Whether the payment pays the order, and until when the provider holds its authorization."""

    secured: bool
    valid_until: UtcDateTime | None = None


class CapturePayment(WireModel):
    """Capture the order's authorized provider payment for the order's total, as it ships."""

    order_id: UUID
    amount_minor: int


class ReconcileIntents(WireModel):
    limit: int = 500  # the most open PaymentIntents re-read in one pass (the oldest-updated first)


class IntentHint(WireModel):
    """A payment whose PaymentIntent the provider reports authorized: its order's workflow is told."""

    order_id: UUID
    payment_id: UUID


class SucceedPayment(WireModel):
    payment_id: UUID
    provider_reference: str | None = None


class ShipShipment(WireModel):
    shipment_id: UUID
    carrier: str | None = None
    tracking_number: str | None = None
