"""Until the Stripe adapter is wired in: the composition roots' provider, which refuses every call."""

from typing import Any

from services.payment.provider import PaymentProvider
from stack.settings import Settings


def payment_provider(settings: Settings) -> PaymentProvider:
    return ProviderNotConfigured()


class ProviderNotConfigured:
    """No provider adapter configured: manual payments work, a Stripe payment's step fails (and is retried)."""

    name = "Stripe"

    async def _fail(self, *args: object, **kwargs: object) -> Any:
        raise RuntimeError("no payment provider is configured")

    create_intent = retrieve = capture = cancel = refund = _fail
