"""Refusals of the ordering context (contract 5.1-5.5)."""

from services.errors import NotFoundError


class OrderNotFoundError(NotFoundError):
    """An unknown order: commands on it answer 400 (contract 1.6), a GET 404 (`read=True`)."""

    status_code = 400

    def __init__(self, *, read: bool = False) -> None:
        super().__init__("order_not_found", "Order was not found", read=read)
