"""The payment-provider port: what the order lifecycle asks of a card processor, and what it reads back.

The provider is the truth about money: a webhook, the shop's return from the payment page and the periodic
reconciliation are only hints to re-read a PaymentIntent through this port. Adapters live beside it (Stripe's
PaymentIntents API through the official SDK; any Stripe-compatible server such as localstripe by its base URL).
Every call that moves money carries an idempotency key derived from the order, so a retried activity repeats
nothing at the provider.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID


class IntentStatus(StrEnum):
    """A PaymentIntent's status, as Stripe names them."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure: the customer still has to authenticate
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"  # authorized: the money is secured until captured or voided
    CANCELED = "canceled"  # voided (or never authorized)
    SUCCEEDED = "succeeded"  # captured


@dataclass(frozen=True)
class ProviderIntent:
    """A PaymentIntent as the provider reports it; amounts in minor units of `currency` (upper case)."""

    id: str  # pi_...
    status: IntentStatus
    amount_minor: int
    currency: str
    amount_capturable_minor: int
    amount_received_minor: int  # captured
    amount_refunded_minor: int
    order_id: UUID | None  # from the intent's metadata
    client_secret: str | None = None  # for the shop's page to confirm it with Stripe.js; never logged


class PaymentProvider(Protocol):
    """The calls the lifecycle makes; each is safe to repeat with the same idempotency key."""

    name: str  # the payment's `provider` value, e.g. "Stripe"

    async def create_intent(
        self, *, order_id: UUID, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderIntent:
        """An intent for the order's amount, to be captured later (manual capture), the order id in metadata."""
        ...

    async def retrieve(self, intent_id: str) -> ProviderIntent: ...

    async def capture(self, intent_id: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        """Capture `amount_minor` of an authorized intent (Stripe captures once; the rest is released)."""
        ...

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> ProviderIntent:
        """Void an intent that is not captured: the authorization is released."""
        ...

    async def refund(self, intent_id: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        """Refund `amount_minor` of a captured intent; the intent as it is afterwards."""
        ...


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with a server error: retry later (a retryable failure)."""


class ProviderRefused(Exception):
    """The provider refused the call (a declined card, a request it finds invalid, a wrong key): repeating it
    changes nothing, so it is not retried. `code` is the provider's (e.g. `card_declined`), when it gave one."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
