"""Refusals of the ordering context (contract 5.1-5.5)."""

from services.errors import DomainError, NotFoundError


class OrderNotFound(DomainError):
    """Commands on an unknown order answer 400 (contract 1.6)."""

    def __init__(self) -> None:
        super().__init__("order_not_found", "Order was not found")


class OrderNotFoundForRead(NotFoundError):
    """GET of an unknown order answers 404."""

    def __init__(self) -> None:
        super().__init__("order_not_found", "Order was not found")
