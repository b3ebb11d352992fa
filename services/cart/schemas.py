"""Request and response bodies of the cart context (contract section 4)."""

from uuid import UUID

from services.schemas import ZERO_UUID, RequestModel, UtcDateTime, WireModel


class CartItemDto(WireModel):
    id: UUID
    product_variant_id: UUID
    quantity: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


class CartDto(WireModel):
    id: UUID
    created_at: UtcDateTime
    updated_at: UtcDateTime
    items: list[CartItemDto] = []


class AddCartItemRequest(RequestModel):
    product_variant_id: UUID = ZERO_UUID
    quantity: int = 0


class UpdateCartItemRequest(RequestModel):
    quantity: int = 0
