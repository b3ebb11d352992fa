"""Refusals of the payment context.

Every command failure is 400, "not found" included (contract section 1.6); only `GET /api/payments/{id}`
answers 404, with `PaymentNotFoundError(..., read=True)`.
"""

from uuid import UUID

from services.errors import DomainError, NotFoundError


class AmountInvalidError(DomainError):
    def __init__(self) -> None:
        super().__init__("amount_invalid", "Amount must be a positive 64-bit integer of minor units.")


class ProviderRequiredError(DomainError):
    def __init__(self) -> None:
        super().__init__("provider_required", "Provider is required.")


class PaymentNotFoundError(NotFoundError):
    """An unknown payment: 400 for a command, as the seed answers commands; 404 with `read=True`."""

    status_code = 400

    def __init__(self, payment_id: UUID, *, read: bool = False) -> None:
        super().__init__("payment_not_found", f"Payment '{payment_id}' was not found.", read=read)


class PaymentNotPendingError(DomainError):
    def __init__(self, payment_id: UUID, status: str) -> None:
        super().__init__("payment_not_pending", f"Payment '{payment_id}' is {status}, not Pending.")
