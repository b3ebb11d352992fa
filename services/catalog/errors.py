"""Refusals of the catalog context (contract section 2.1).

Every command refusal is a 400, "not found" included; only the single-resource reads answer 404.
"""

from uuid import UUID

from services.errors import DomainError, NotFoundError
from services.validation import Wording


class CatalogError(DomainError):
    """A catalog command refused with one of the contract's codes (HTTP 400)."""


WORDING = Wording(
    required="{label} is required.",
    too_long="{label} must be at most {limit} characters long.",
    invalid="{label} must not contain NUL characters.",
    error=CatalogError,
)


class AlreadyExistsError(CatalogError):
    """A unique slug or SKU is already taken (`*_slug_already_exists`, `sku_already_exists`)."""


class ProductNotFoundError(NotFoundError, CatalogError):
    """An unknown product: 400 when a command names it, as the seed; `GET /api/products/{id}` 404 (`read=True`)."""

    status_code = 400

    def __init__(self, product_id: UUID, *, read: bool = False) -> None:
        super().__init__("product_not_found", f"Product '{product_id}' was not found.", read=read)


class ProductArchivedError(CatalogError):
    def __init__(self, product_id: UUID) -> None:
        super().__init__("product_archived", f"Product '{product_id}' is archived.")


class VariantSnapshotNotFoundError(NotFoundError):
    """The variant is unknown or inactive, or its product is not Active (HTTP 404)."""

    def __init__(self, variant_id: UUID) -> None:
        super().__init__(
            "product_variant_snapshot_not_found",
            f"Product variant '{variant_id}' is not available for ordering.",
        )
