"""Refusals of the payment context.

Every command failure is 400, "not found" included (contract section 1.6); only `GET /api/payments/{id}`
answers 404, with `PaymentNotFoundOnGetError`.
"""

from uuid import UUID

from services.errors import DomainError, NotFoundError


class OrderIdRequiredError(DomainError):
    def __init__(self) -> None:
        super().__init__("order_id_required", "Order id is required.")


class AmountInvalidError(DomainError):
    def __init__(self) -> None:
        super().__init__("amount_invalid", "Amount must be a positive 64-bit integer of minor units.")


class CurrencyInvalidError(DomainError):
    def __init__(self) -> None:
        super().__init__("currency_invalid", "Currency must be a 3-letter code.")


class ProviderRequiredError(DomainError):
    def __init__(self) -> None:
        super().__init__("provider_required", "Provider is required.")


class OrderNotAwaitingPaymentError(DomainError):
    """A customer (a caller without an operator token) may pay only an order that awaits payment."""

    def __init__(self, order_id: UUID) -> None:
        super().__init__("order_not_awaiting_payment", f"Order '{order_id}' is not awaiting payment.")


class PaymentNotFoundError(DomainError):
    """A command addressed an unknown payment: 400, as the seed answers commands."""

    def __init__(self, payment_id: UUID) -> None:
        super().__init__("payment_not_found", f"Payment '{payment_id}' was not found.")


class PaymentNotFoundOnGetError(NotFoundError):
    """`GET /api/payments/{id}` of an unknown payment: 404."""

    def __init__(self, payment_id: UUID) -> None:
        super().__init__("payment_not_found", f"Payment '{payment_id}' was not found.")


class PaymentNotPendingError(DomainError):
    def __init__(self, payment_id: UUID, status: str) -> None:
        super().__init__("payment_not_pending", f"Payment '{payment_id}' is {status}, not Pending.")
