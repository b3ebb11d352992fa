"""Checks of a create-order request, in the order the seed runs them (contract 5.3, step 1 and 2)."""

from dataclasses import dataclass
from uuid import UUID

from contracts.order import MAX_ORDER_LINES, OrderLineInput
from services.errors import DomainError
from services.ordering.schemas import CreateOrderRequest
from services.schemas import ZERO_UUID
from services.validation import INT32_MAX, Caps, Wording, check_units_per_line, required_text

_WORDING = Wording(too_long="{label} exceeds {limit} characters")


@dataclass(frozen=True)
class ValidOrderRequest:
    customer_name: str
    customer_email: str
    items: list[OrderLineInput]


class TooManyOpenOrdersError(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            "too_many_open_orders",
            f"This email already has {limit} orders awaiting payment; pay or cancel one before placing another",
        )


def check_create_order(request: CreateOrderRequest, caps: Caps) -> ValidOrderRequest:
    """Validate and normalise a create-order request; raise the first failing check's DomainError."""
    # PostgreSQL cannot store NUL: refused here, before the order's workflow starts and retries it forever.
    name = required_text(request.customer_name, "customer_name", max_length=300, wording=_WORDING)
    email = required_text(request.customer_email, "customer_email", max_length=320, wording=_WORDING)
    if not request.items:
        raise DomainError("order_items_required", "An order needs at least one item")
    if len(request.items) > MAX_ORDER_LINES:
        raise DomainError("order_items_too_many", f"An order can have at most {MAX_ORDER_LINES} items")
    items: list[OrderLineInput] = []
    units: dict[UUID, int] = {}  # per variant: the cap would be no cap if an item could be split over lines
    for item in request.items:
        if item.product_variant_id == ZERO_UUID:
            raise DomainError("product_variant_id_required", "Product variant id is required")
        if not 0 < item.quantity <= INT32_MAX:
            raise DomainError("quantity_invalid", "Quantity must be a positive 32-bit integer")
        units[item.product_variant_id] = units.get(item.product_variant_id, 0) + item.quantity
        check_units_per_line(units[item.product_variant_id], caps)
        items.append(OrderLineInput(product_variant_id=item.product_variant_id, quantity=item.quantity))
    return ValidOrderRequest(customer_name=name, customer_email=email, items=items)


def check_open_orders(open_orders: int, caps: Caps) -> None:
    """Placing one more order for an email that has `open_orders` others awaiting payment."""
    if caps.open_orders_per_email and open_orders >= caps.open_orders_per_email:
        raise TooManyOpenOrdersError(caps.open_orders_per_email)
