"""Request and response bodies of the inventory context (contract section 3.2 and 3.3).

Request fields all have defaults: a missing field reaches the store's check and is refused with the
contract's code (a missing quantity is 0, so `receipt_quantity_invalid`), never with a schema error.
"""

from enum import StrEnum
from uuid import UUID

from services.schemas import ZERO_UUID, RequestModel, UtcDateTime, WireModel


class ReservationStatus(StrEnum):
    ACTIVE = "Active"
    RELEASED = "Released"
    COMMITTED = "Committed"


class MovementType(StrEnum):
    RECEIPT = "Receipt"
    ADJUSTMENT = "Adjustment"
    SHIPMENT = "Shipment"
    RESERVATION = "Reservation"
    RELEASE = "Release"


# --- requests -------------------------------------------------------------------------------------------


class CreateWarehouseRequest(RequestModel):
    code: str | None = None
    name: str | None = None


class CreateStorageLocationRequest(RequestModel):
    warehouse_id: UUID = ZERO_UUID
    code: str | None = None


class ReceiveStockRequest(RequestModel):
    sku: str | None = None
    warehouse_id: UUID = ZERO_UUID
    location_id: UUID = ZERO_UUID
    quantity: int = 0
    reason: str | None = None


class CreateStockReservationRequest(RequestModel):
    """Reserve at an explicit (warehouse, location)."""

    sku: str | None = None
    warehouse_id: UUID = ZERO_UUID
    location_id: UUID = ZERO_UUID
    quantity: int = 0
    reference: str | None = None


class AllocateStockReservationRequest(RequestModel):
    """Reserve wherever Inventory finds the stock (the allocation rule of section 3.2)."""

    sku: str | None = None
    quantity: int = 0
    reference: str | None = None


class AllocationLine(WireModel):
    """One line of `InventoryStore.allocate_many`; a line whose key already exists is not allocated again."""

    sku: str | None = None
    quantity: int = 0
    reference: str | None = None
    idempotency_key: str | None = None


# --- responses ------------------------------------------------------------------------------------------


class WarehouseDto(WireModel):
    id: UUID
    code: str
    name: str
    is_active: bool


class StorageLocationDto(WireModel):
    id: UUID
    warehouse_id: UUID
    code: str
    is_active: bool


class StockReceiptDto(WireModel):
    """The balance of the receiving row after the receipt."""

    sku: str
    warehouse_id: UUID
    location_id: UUID
    received_quantity: int
    on_hand_quantity: int
    reserved_quantity: int
    available_quantity: int


class StockLocationBalanceDto(WireModel):
    warehouse_id: UUID
    warehouse_code: str
    location_id: UUID
    location_code: str
    on_hand_quantity: int
    reserved_quantity: int
    available_quantity: int


class StockSummaryDto(WireModel):
    sku: str
    total_on_hand_quantity: int
    total_reserved_quantity: int
    total_available_quantity: int
    locations: list[StockLocationBalanceDto]


class StockMovementDto(WireModel):
    id: UUID
    sku: str
    warehouse_id: UUID
    warehouse_code: str
    location_id: UUID
    location_code: str
    type: MovementType
    quantity: int
    reason: str | None
    created_at: UtcDateTime


class StockReservationDto(WireModel):
    id: UUID
    sku: str
    warehouse_id: UUID
    location_id: UUID
    quantity: int
    status: ReservationStatus
    reference: str | None
    created_at: UtcDateTime
    released_at: UtcDateTime | None
    committed_at: UtcDateTime | None
