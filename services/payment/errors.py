"""Refusals of the payment context.

Every command failure is 400, "not found" included (contract section 1.6); only `GET /api/payments/{id}`
answers 404, with `PaymentNotFoundError(..., read=True)`.
"""

from uuid import UUID

from contracts.order import ORDER_ALREADY_PAID
from services.errors import DomainError, NotFoundError


class AmountInvalidError(DomainError):
    def __init__(self) -> None:
        super().__init__("amount_invalid", "Amount must be a positive 64-bit integer of minor units.")


class ProviderRequiredError(DomainError):
    def __init__(self) -> None:
        super().__init__("provider_required", "Provider is required.")


class OrderNotAwaitingPaymentError(DomainError):
    """A customer (a caller without an operator token) may pay only an order that awaits payment."""

    def __init__(self, order_id: UUID) -> None:
        super().__init__("order_not_awaiting_payment", f"Order '{order_id}' is not awaiting payment.")


class PaymentNotFoundError(NotFoundError):
    """An unknown payment: 400 for a command, as the seed answers commands; 404 with `read=True`."""

    status_code = 400

    def __init__(self, payment_id: UUID, *, read: bool = False) -> None:
        super().__init__("payment_not_found", f"Payment '{payment_id}' was not found.", read=read)


class PaymentNotPendingError(DomainError):
    def __init__(self, payment_id: UUID, status: str) -> None:
        super().__init__("payment_not_pending", f"Payment '{payment_id}' is {status}, not Pending.")


class PaymentAmountMismatchError(DomainError):
    def __init__(self, amount_minor: int, order_total_minor: int) -> None:
        super().__init__(
            "payment_amount_mismatch",
            f"Payment amount {amount_minor} does not equal the order's total of {order_total_minor} minor units.",
        )


class PaymentCurrencyMismatchError(DomainError):
    def __init__(self, currency: str, order_currency: str) -> None:
        super().__init__(
            "payment_currency_mismatch", f"Payment currency {currency} is not the order's currency {order_currency}."
        )


class PaymentProviderNotConfiguredError(DomainError):
    def __init__(self) -> None:
        super().__init__("payment_provider_not_configured", "This shop takes no card payments: no provider is set up.")


class PaymentProviderUnavailableError(DomainError):
    """The provider could not be reached, or failed: nothing was changed on our side; try again."""

    status_code = 503

    def __init__(self, detail: str) -> None:
        super().__init__("payment_provider_unavailable", f"The payment provider is unavailable: {detail}")


class PaymentProviderRefusedError(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__("payment_provider_refused", f"The payment provider refused: {detail}")


class OrderAlreadyPaidError(DomainError):
    """A second payment for an order that is already paid: refused, it stays Pending and nothing is taken."""

    def __init__(self, order_id: UUID) -> None:
        super().__init__(ORDER_ALREADY_PAID, f"Order '{order_id}' is already paid; this payment was not taken.")
