"""Refusals of the inventory context. Every one is a 400 except `stock_not_found` (404, a GET)."""

from uuid import UUID

from services.errors import DomainError, NotFoundError
from services.validation import Wording


class InventoryError(DomainError):
    """A refusal of an inventory command (HTTP 400); `code` names the rule, as in contract section 3.1."""


WORDING = Wording(error=InventoryError)


class StockItemNotFoundError(NotFoundError, InventoryError):
    """A command names a stock row that does not exist (HTTP 400, as every inventory command refusal)."""

    status_code = 400

    def __init__(self, sku: str) -> None:
        super().__init__("stock_item_not_found", f"No stock exists for SKU '{sku}' at the requested place")


class InsufficientStockError(InventoryError):
    def __init__(self, sku: str, quantity: int) -> None:
        super().__init__("insufficient_stock", f"No single location has {quantity} unit(s) of SKU '{sku}' available")


class ReservationNotFoundError(NotFoundError, InventoryError):
    status_code = 400

    def __init__(self, reservation_id: UUID) -> None:
        super().__init__("reservation_not_found", f"Reservation '{reservation_id}' does not exist")


class ReservationNotActiveError(InventoryError):
    def __init__(self, reservation_id: UUID, status: str) -> None:
        super().__init__("reservation_not_active", f"Reservation '{reservation_id}' is {status}, not Active")


class ReservationOwnedByOrderError(InventoryError):
    def __init__(self, reservation_id: UUID) -> None:
        super().__init__(
            "reservation_owned_by_order",
            f"Reservation '{reservation_id}' is held by an order: cancel, expire or ship the order instead",
        )


class StockNotFoundError(NotFoundError):
    """`GET /api/stock/{sku}` of a SKU never received (HTTP 404)."""

    def __init__(self, sku: str) -> None:
        super().__init__("stock_not_found", f"No stock has ever been received for SKU '{sku}'")
