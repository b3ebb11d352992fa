"""Which payment provider the composition roots (worker.py, the API's lifespan) hand to the lifecycle."""

from services.payment.provider import PaymentProvider
from services.payment.stripe_provider import build_provider
from stack.settings import Settings


def configured_provider(settings: Settings) -> PaymentProvider | None:
    """The provider the settings describe (Stripe's API, or a Stripe-compatible server such as localstripe), or
    None when they describe none: the process then takes manual payments only."""
    if settings.stripe_api_key is None and not settings.stripe_api_base:
        return None
    return build_provider(settings)
