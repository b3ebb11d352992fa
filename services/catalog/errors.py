"""Refusals of the catalog context (contract section 2.1).

Every command refusal is a 400, "not found" included; only the single-resource reads answer 404.
"""

from uuid import UUID

from services.errors import DomainError, NotFoundError


class CatalogError(DomainError):
    """A catalog command refused with one of the contract's codes (HTTP 400)."""


class AlreadyExistsError(CatalogError):
    """A unique slug or SKU is already taken (`*_slug_already_exists`, `sku_already_exists`)."""


class ProductNotFoundError(CatalogError):
    """A command names a product that does not exist (HTTP 400, as the seed)."""

    def __init__(self, product_id: UUID) -> None:
        super().__init__("product_not_found", f"Product '{product_id}' was not found.")


class ProductArchivedError(CatalogError):
    def __init__(self, product_id: UUID) -> None:
        super().__init__("product_archived", f"Product '{product_id}' is archived.")


class ProductDetailsNotFoundError(NotFoundError):
    """`GET /api/products/{id}` for an unknown id (HTTP 404)."""

    def __init__(self, product_id: UUID) -> None:
        super().__init__("product_not_found", f"Product '{product_id}' was not found.")


class VariantSnapshotNotFoundError(NotFoundError):
    """The variant is unknown or inactive, or its product is not Active (HTTP 404)."""

    def __init__(self, variant_id: UUID) -> None:
        super().__init__(
            "product_variant_snapshot_not_found",
            f"Product variant '{variant_id}' is not available for ordering.",
        )
