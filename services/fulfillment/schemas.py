"""Request and response bodies of the fulfillment context (contract section 7)."""

from enum import StrEnum
from uuid import UUID

from services.schemas import ZERO_UUID, RequestModel, UtcDateTime, WireModel


class ShipmentStatus(StrEnum):
    PENDING = "Pending"
    SHIPPED = "Shipped"
    CANCELLED = "Cancelled"


class ShipmentListItemDto(WireModel):
    id: UUID
    order_id: UUID
    status: ShipmentStatus
    carrier: str | None
    tracking_number: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    shipped_at: UtcDateTime | None
    cancelled_at: UtcDateTime | None


class ShipmentDetailsDto(ShipmentListItemDto):
    """Same fields as the list item (contract section 7.3)."""


class CreateShipmentRequest(RequestModel):
    order_id: UUID = ZERO_UUID
    carrier: str | None = None
    tracking_number: str | None = None


class ShipShipmentRequest(RequestModel):
    carrier: str | None = None
    tracking_number: str | None = None
