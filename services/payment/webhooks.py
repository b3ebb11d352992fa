"""A provider's webhook, verified: Stripe signs the raw body (`Stripe-Signature`: a timestamp and an HMAC-SHA256
with the endpoint's secret); the SDK checks the signature and the timestamp's tolerance. Only then is the event
read, and then only as a hint: which PaymentIntent to re-read from the provider."""

from collections.abc import Mapping
from dataclasses import dataclass

import stripe

from services.errors import DomainError


class InvalidSignatureError(DomainError):
    def __init__(self) -> None:
        super().__init__("invalid_signature", "The webhook's signature does not verify.")


@dataclass(frozen=True)
class ProviderEvent:
    id: str  # evt_...: a redelivery carries the same id
    type: str
    intent_id: str | None  # the PaymentIntent it is about, if any


def verify_event(payload: bytes, signature: str | None, secret: str) -> ProviderEvent:
    """The event, if `signature` signs `payload` with `secret` within the SDK's tolerance; else refused."""
    if not signature:
        raise InvalidSignatureError()
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise InvalidSignatureError() from error
    return ProviderEvent(id=event.id, type=event.type, intent_id=intent_of(event.type, event.data.object.to_dict()))


def intent_of(event_type: str, data: Mapping[str, object]) -> str | None:
    """The PaymentIntent an event is about: the object of a `payment_intent.*` event, the `payment_intent` of a
    `charge.*` one; None for anything else (irrelevant to orders)."""
    if event_type.startswith("payment_intent."):
        value = data.get("id")
    elif event_type.startswith("charge."):
        value = data.get("payment_intent")
    else:
        return None
    return value if isinstance(value, str) and value.startswith("pi_") else None
