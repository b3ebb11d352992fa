"""Orders for tests: the input of an order's run (`order_input`), and an order as the workflow records it, for
tests that store orders without placing them (`pending_order`)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.order import OrderDetails, OrderItemDetails, OrderLineInput, OrderStatus, PlaceOrder


def order_input(
    order_id: uuid.UUID,
    *lines: tuple[uuid.UUID, int],
    payment_timeout_seconds: int = 3600,
    **fields: Any,
) -> PlaceOrder:
    """The input of `order_id`'s OrderWorkflow run: Ada orders `lines` (variant id, quantity); `fields` set the
    rest of PlaceOrder (e.g. `placement_attempts`)."""
    return PlaceOrder(
        order_id=order_id,
        customer_name="Ada",
        customer_email="ada@example.com",
        items=[OrderLineInput(product_variant_id=variant, quantity=quantity) for variant, quantity in lines],
        payment_timeout_seconds=payment_timeout_seconds,
        **fields,
    )


def pending_order(
    *, unit_price: int = 6900, quantity: int = 1, variant_id: uuid.UUID | None = None, sku: str = "ARM-BLK"
) -> OrderDetails:
    """A PendingPayment order of one line, with fresh ids."""
    now = datetime.now(UTC)
    line_total = unit_price * quantity
    return OrderDetails(
        id=uuid.uuid4(),
        customer_name="Ada",
        customer_email="ada@example.com",
        status=OrderStatus.PENDING_PAYMENT,
        total_amount_minor=line_total,
        currency="USD",
        created_at=now,
        updated_at=now,
        items=[
            OrderItemDetails(
                id=uuid.uuid4(),
                product_id=uuid.uuid4(),
                product_variant_id=variant_id or uuid.uuid4(),
                sku=sku,
                product_name="Monitor Arm",
                variant_name="Black",
                unit_price_amount_minor=unit_price,
                currency="USD",
                quantity=quantity,
                line_total_amount_minor=line_total,
                inventory_reservation_id=uuid.uuid4(),
            )
        ],
    )
