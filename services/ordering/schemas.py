"""Wire DTOs of the ordering context (contract 5.2 and 5.4).

The order details themselves are the workflow's contract model, so the workflow, the store and the API
show exactly one shape.
"""

from uuid import UUID

from contracts.order import OrderDetails, OrderItemDetails, OrderStatus
from services.schemas import ZERO_UUID, RequestModel, UtcDateTime, WireModel

__all__ = [
    "CreateOrderItemRequest",
    "CreateOrderRequest",
    "OrderDetails",
    "OrderItemDetails",
    "OrderListItemDto",
]


class CreateOrderItemRequest(RequestModel):
    product_variant_id: UUID = ZERO_UUID
    quantity: int = 0


class CreateOrderRequest(RequestModel):
    customer_name: str | None = None
    customer_email: str | None = None
    items: list[CreateOrderItemRequest] | None = None


class OrderListItemDto(WireModel):
    id: UUID
    customer_name: str
    customer_email: str
    status: OrderStatus
    total_amount_minor: int
    currency: str
    item_count: int
    created_at: UtcDateTime
