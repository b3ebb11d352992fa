"""Request and response bodies of the payment context (contract section 6)."""

from enum import StrEnum
from uuid import UUID

from services.schemas import ZERO_UUID, RequestModel, UtcDateTime, WireModel


class PaymentStatus(StrEnum):
    """Wire values of a payment's status. `Refunded` is our extension (a paid order that was cancelled)."""

    PENDING = "Pending"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    REFUNDED = "Refunded"


class PaymentListItemDto(WireModel):
    id: UUID
    order_id: UUID
    amount_minor: int
    currency: str
    status: PaymentStatus
    provider: str
    provider_reference: str | None
    created_at: UtcDateTime


class PaymentDetailsDto(WireModel):
    id: UUID
    order_id: UUID
    amount_minor: int
    currency: str
    status: PaymentStatus
    provider: str
    provider_reference: str | None
    failure_reason: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    succeeded_at: UtcDateTime | None
    failed_at: UtcDateTime | None
    cancelled_at: UtcDateTime | None
    refunded_at: UtcDateTime | None
    # A provider's payment (Stripe): its PaymentIntent's id and the money the provider reported moving.
    provider_id: str | None = None
    authorized_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    # Only in the answer that creates or returns a Stripe payment: what the shop's page confirms it with.
    client_secret: str | None = None


class CreatePaymentRequest(RequestModel):
    order_id: UUID = ZERO_UUID
    amount_minor: int = 0
    currency: str | None = None
    provider: str | None = None


class SucceedPaymentRequest(RequestModel):
    provider_reference: str | None = None


class FailPaymentRequest(RequestModel):
    failure_reason: str | None = None


STRIPE = "Stripe"  # the `provider` of a payment made through the Stripe adapter (a PaymentIntent)
