"""Refusals of the cart context. Not-found is 404 on every cart endpoint (contract section 1.6)."""

from uuid import UUID

from services.errors import DomainError, NotFoundError


class CartNotFoundError(NotFoundError):
    def __init__(self, cart_id: UUID) -> None:
        super().__init__("cart_not_found", f"Cart '{cart_id}' was not found.")


class CartItemNotFoundError(NotFoundError):
    def __init__(self, cart_id: UUID, product_variant_id: UUID) -> None:
        super().__init__(
            "cart_item_not_found",
            f"Cart '{cart_id}' has no item for product variant '{product_variant_id}'.",
        )


class ProductVariantIdRequiredError(DomainError):
    def __init__(self) -> None:
        super().__init__("product_variant_id_required", "Product variant id is required.")


class QuantityInvalidError(DomainError):
    def __init__(self, detail: str = "Quantity must be greater than zero.") -> None:
        super().__init__("quantity_invalid", detail)


class CartItemsTooManyError(DomainError):
    def __init__(self, max_lines: int) -> None:
        super().__init__("cart_items_too_many", f"A cart can have at most {max_lines} items.")
