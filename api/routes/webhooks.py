"""Webhooks from the payment provider: `POST /api/webhooks/stripe`.

The signature is checked over the raw body, byte for byte as it arrived (a parsed and re-serialised body would
not verify); an event is processed once per event id, and only as a hint to re-read its PaymentIntent.
"""

from typing import Annotated

from fastapi import APIRouter, Header, Request

from api.deps import AppSettings, Orders, Payments
from api.errors import responses
from services.payment.webhooks import InvalidSignatureError, verify_event
from services.schemas import WireModel
from usecases import payments

router = APIRouter(tags=["webhooks"], responses=responses(503))


class WebhookReceived(WireModel):
    received: bool = True
    duplicate: bool  # the event was processed before: nothing happened again


@router.post("/api/webhooks/stripe", responses=responses(400))
async def stripe_webhook(
    request: Request,
    settings: AppSettings,
    orders: Orders,
    provider: Payments,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> WebhookReceived:
    """A Stripe event, signed with STRIPE_WEBHOOK_SECRET: 400 `invalid_signature` unless it verifies. Events
    about a PaymentIntent make us re-read it from the provider and tell its order's workflow; any other event is
    acknowledged and changes nothing; a redelivered event (same id) changes nothing either."""
    if settings.stripe_webhook_secret is None:
        raise InvalidSignatureError()  # nothing to verify it with: no event is trusted
    event = verify_event(await request.body(), stripe_signature, settings.stripe_webhook_secret.get_secret_value())
    return WebhookReceived(duplicate=not await payments.intent_changed(orders, provider, event))
