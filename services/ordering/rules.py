"""Checks of a create-order request, in the order the seed runs them (contract 5.3, step 1 and 2)."""

from dataclasses import dataclass

from contracts.order import MAX_ORDER_LINES, OrderLineInput
from services.errors import DomainError
from services.ordering.schemas import CreateOrderRequest
from services.schemas import ZERO_UUID
from services.validation import INT32_MAX, Wording, required_text

_WORDING = Wording(too_long="{label} exceeds {limit} characters")


@dataclass(frozen=True)
class ValidOrderRequest:
    customer_name: str
    customer_email: str
    items: list[OrderLineInput]


def check_create_order(request: CreateOrderRequest) -> ValidOrderRequest:
    """Validate and normalise a create-order request; raise the first failing check's DomainError."""
    # PostgreSQL cannot store NUL: refused here, before the order's workflow starts and retries it forever.
    name = required_text(request.customer_name, "customer_name", max_length=300, wording=_WORDING)
    email = required_text(request.customer_email, "customer_email", max_length=320, wording=_WORDING)
    if not request.items:
        raise DomainError("order_items_required", "An order needs at least one item")
    if len(request.items) > MAX_ORDER_LINES:
        raise DomainError("order_items_too_many", f"An order can have at most {MAX_ORDER_LINES} items")
    items: list[OrderLineInput] = []
    for item in request.items:
        if item.product_variant_id == ZERO_UUID:
            raise DomainError("product_variant_id_required", "Product variant id is required")
        if not 0 < item.quantity <= INT32_MAX:
            raise DomainError("quantity_invalid", "Quantity must be a positive 32-bit integer")
        items.append(OrderLineInput(product_variant_id=item.product_variant_id, quantity=item.quantity))
    return ValidOrderRequest(customer_name=name, customer_email=email, items=items)
