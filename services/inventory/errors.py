"""Refusals of the inventory context. Every one is a 400 except `stock_not_found` (404, a GET)."""

from uuid import UUID

from services.errors import DomainError, NotFoundError


class InventoryError(DomainError):
    """A refusal of an inventory command (HTTP 400); `code` names the rule, as in contract section 3.1."""


class StockItemNotFoundError(InventoryError):
    def __init__(self, sku: str) -> None:
        super().__init__("stock_item_not_found", f"No stock exists for SKU '{sku}' at the requested place")


class InsufficientStockError(InventoryError):
    def __init__(self, sku: str, quantity: int) -> None:
        super().__init__("insufficient_stock", f"No single location has {quantity} unit(s) of SKU '{sku}' available")


class ReservationNotFoundError(InventoryError):
    def __init__(self, reservation_id: UUID) -> None:
        super().__init__("reservation_not_found", f"Reservation '{reservation_id}' does not exist")


class ReservationNotActiveError(InventoryError):
    def __init__(self, reservation_id: UUID, status: str) -> None:
        super().__init__("reservation_not_active", f"Reservation '{reservation_id}' is {status}, not Active")


class StockNotFoundError(NotFoundError):
    def __init__(self, sku: str) -> None:
        super().__init__("stock_not_found", f"No stock has ever been received for SKU '{sku}'")
