"""The checks of inventory requests, in the contract's order (section 3.1), before any stock is looked at.

Built on the shared checks of `services.validation`, in the inventory's wording (`errors.WORDING`).
"""

from services.inventory.allocation import Place, ReservationRequest
from services.inventory.errors import WORDING, InventoryError
from services.inventory.models import (
    CODE_MAX,
    IDEMPOTENCY_KEY_MAX,
    REASON_MAX,
    REFERENCE_MAX,
    SKU_MAX,
    WAREHOUSE_NAME_MAX,
)
from services.validation import INT64_MAX, optional_text, required_text, storable


def normalize_sku(value: str | None) -> str | None:
    """The stored form of a SKU (trimmed, upper-cased), or None when it is blank."""
    cleaned = (value or "").strip().upper()
    return cleaned or None


def lookup_sku(value: str | None) -> str | None:
    """A SKU for a read: None when it is blank or could not have been stored."""
    sku = normalize_sku(value)
    return sku if sku is not None and storable(sku, SKU_MAX) else None


def sku(value: str | None) -> str:
    return required_text(normalize_sku(value), "sku", label="SKU", max_length=SKU_MAX, wording=WORDING)


def quantity(value: int, code: str) -> int:
    """A quantity of 1..int64; `code` names the request it belongs to (`receipt_quantity_invalid`, ...)."""
    if value <= 0 or value > INT64_MAX:
        raise InventoryError(code, f"Quantity must be between 1 and {INT64_MAX}")
    return value


def warehouse_code(value: str | None) -> str:
    code = (value or "").upper()
    return required_text(code, "warehouse_code", label="Warehouse code", max_length=CODE_MAX, wording=WORDING)


def warehouse_name(value: str | None) -> str:
    return required_text(
        value, "warehouse_name", label="Warehouse name", max_length=WAREHOUSE_NAME_MAX, wording=WORDING
    )


def location_code(value: str | None) -> str:
    code = (value or "").upper()
    return required_text(code, "location_code", label="Location code", max_length=CODE_MAX, wording=WORDING)


def reason(value: str | None) -> str | None:
    return optional_text(value, "reason", label="Reason", max_length=REASON_MAX, wording=WORDING)


def reservation_request(
    sku_value: str | None,
    quantity_value: int,
    reference: str | None,
    idempotency_key: str | None,
    place: Place | None = None,
) -> ReservationRequest:
    """A validated reservation request: at `place`, or wherever allocation finds the stock."""
    return ReservationRequest(
        sku=sku(sku_value),
        quantity=quantity(quantity_value, "reservation_quantity_invalid"),
        reference=optional_text(reference, "reference", label="Reference", max_length=REFERENCE_MAX, wording=WORDING),
        idempotency_key=optional_text(
            idempotency_key,
            "idempotency_key",
            label="Idempotency key",
            max_length=IDEMPOTENCY_KEY_MAX,
            wording=WORDING,
        ),
        place=place,
    )
