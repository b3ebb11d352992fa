"""Refusals of the ordering context (contract 5.1-5.5)."""

from uuid import UUID

from contracts.order import OrderStatus
from services.errors import DomainError, NotFoundError


class OrderNotFoundError(NotFoundError):
    """An unknown order: commands on it answer 400 (contract 1.6), a GET 404 (`read=True`)."""

    status_code = 400

    def __init__(self, *, read: bool = False) -> None:
        super().__init__("order_not_found", "Order was not found", read=read)


class OrderStatusConflictError(DomainError):
    """A status the order cannot reach from the one it has: a run that is not the order's own asked for it."""

    status_code = 409

    def __init__(self, order_id: UUID, current: OrderStatus, wanted: OrderStatus) -> None:
        super().__init__(
            "order_status_conflict",
            f"Order '{order_id}' is {current.value}: it cannot become {wanted.value}; nothing was changed",
        )


class OrderAlreadyPlacedError(DomainError):
    """Another placement under the id of an order that exists: the order is never placed twice."""

    status_code = 409

    def __init__(self, order_id: UUID) -> None:
        super().__init__("order_already_placed", f"Order '{order_id}' was placed already; nothing was changed")
