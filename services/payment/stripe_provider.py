"""The `stripe` adapter of the payment-provider port: Stripe's PaymentIntents API through the official SDK's
async client, manual capture. `STRIPE_API_BASE` points it at any Stripe-compatible server (localstripe in
`make run` and the tests); without it, it talks to Stripe itself with `STRIPE_API_KEY` (`sk_test_...`).

Idempotency: every call that moves money sends the caller's idempotency key (Stripe replays the first answer for
24 hours; our localstripe wrapper does the same). Capture and cancel are idempotent by state as well: when the
provider refuses one, the intent is re-read, and one already captured (or canceled) is the success it asked for —
so a capture retried after the key expired, or under another key, still succeeds and moves no money twice.

Amounts: Stripe reports `amount_capturable` and `amount_received` on the intent and `amount_refunded` on its
latest charge, so the charge is always expanded. localstripe's intents carry neither of the first two; they are
derived from the charge (authorized and not captured: capturable; captured: received). localstripe records a
partial capture as a full capture plus a refund of the rest, so there received − refunded is what Stripe reports
as received: the net is the same.
"""

from collections.abc import Awaitable, Mapping
from typing import Any
from uuid import UUID

import stripe

from services.payment.provider import (
    IntentStatus,
    PaymentProvider,
    ProviderIntent,
    ProviderRefused,
    ProviderUnavailable,
)
from stack.settings import Settings

NAME = "Stripe"
LOCALSTRIPE_API_KEY = "sk_test_localstripe"  # localstripe accepts any `sk_...` key
NETWORK_RETRIES = 2  # the SDK's own quick retries (same idempotency key); the activity's retries come after
EXPAND = ["latest_charge"]


def is_retryable(http_status: int | None) -> bool:
    """Whether a failed call may succeed later: no answer at all, a server error, rate limiting, or a request
    that conflicted with a concurrent one under the same idempotency key."""
    return http_status is None or http_status >= 500 or http_status in (409, 429)


def provider_error(error: stripe.StripeError) -> ProviderUnavailable | ProviderRefused:
    """The port's error for an SDK error: retryable (`ProviderUnavailable`) or not (`ProviderRefused`)."""
    message = error.user_message or str(error)
    if isinstance(error, stripe.APIConnectionError) or is_retryable(error.http_status):
        return ProviderUnavailable(f"{NAME}: {message}")
    return ProviderRefused(error.code, message)


def _order_id(metadata: object) -> UUID | None:
    value = metadata.get("order_id") if isinstance(metadata, Mapping) else None
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def intent_from_stripe(data: Mapping[str, Any]) -> ProviderIntent:
    """A PaymentIntent as Stripe (or localstripe) returns it, its `latest_charge` expanded, as the port's intent."""
    status = IntentStatus(data["status"])
    charge = data.get("latest_charge")
    charge = charge if isinstance(charge, Mapping) else {}
    charged = charge.get("status") == "succeeded"
    capturable = data.get("amount_capturable")
    if capturable is None:
        capturable = charge.get("amount", 0) if status == IntentStatus.REQUIRES_CAPTURE and charged else 0
    received = data.get("amount_received")
    if received is None:
        received = charge.get("amount", 0) if charged and charge.get("captured") else 0
    return ProviderIntent(
        id=data["id"],
        status=status,
        amount_minor=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        amount_capturable_minor=int(capturable),
        amount_received_minor=int(received),
        amount_refunded_minor=int(charge.get("amount_refunded") or 0),
        order_id=_order_id(data.get("metadata")),
        client_secret=data.get("client_secret"),
    )


async def _call(request: Awaitable[stripe.PaymentIntent]) -> ProviderIntent:
    try:
        intent = await request
    except stripe.StripeError as error:
        raise provider_error(error) from error
    return intent_from_stripe(intent.to_dict())


class StripeProvider:
    """`PaymentProvider` over Stripe's API (or a Stripe-compatible server at `api_base`)."""

    name = NAME

    def __init__(self, api_key: str, *, api_base: str | None = None, max_network_retries: int = NETWORK_RETRIES):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
        )
        self._intents = self._client.v1.payment_intents

    async def create_intent(
        self, *, order_id: UUID, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderIntent:
        return await _call(
            self._intents.create_async(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "capture_method": "manual",
                    "metadata": {"order_id": str(order_id)},
                    "expand": EXPAND,
                },
                {"idempotency_key": idempotency_key},
            )
        )

    async def retrieve(self, intent_id: str) -> ProviderIntent:
        return await _call(self._intents.retrieve_async(intent_id, {"expand": EXPAND}))

    async def capture(self, intent_id: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        try:
            captured = await _call(
                self._intents.capture_async(
                    intent_id,
                    {"amount_to_capture": amount_minor, "expand": EXPAND},
                    {"idempotency_key": idempotency_key},
                )
            )
        except ProviderRefused:
            current = await self.retrieve(intent_id)
            if current.status == IntentStatus.SUCCEEDED:
                return current
            raise
        if captured.status != IntentStatus.SUCCEEDED:  # an answer without the money is no capture
            raise ProviderRefused("payment_intent_unexpected_state", f"{intent_id} is {captured.status} after capture")
        return captured

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> ProviderIntent:
        try:
            return await _call(
                self._intents.cancel_async(intent_id, {"expand": EXPAND}, {"idempotency_key": idempotency_key})
            )
        except ProviderRefused:
            current = await self.retrieve(intent_id)
            if current.status == IntentStatus.CANCELED:
                return current
            raise

    async def refund(self, intent_id: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        try:
            await self._client.v1.refunds.create_async(
                {"payment_intent": intent_id, "amount": amount_minor}, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            raise provider_error(error) from error
        return await self.retrieve(intent_id)


def build_provider(settings: Settings) -> PaymentProvider:
    """The payment provider the settings describe: Stripe's API, at `STRIPE_API_BASE` when set (localstripe)."""
    if settings.stripe_api_key is not None:
        key = settings.stripe_api_key.get_secret_value()
    elif settings.stripe_api_base:
        key = LOCALSTRIPE_API_KEY
    else:
        raise RuntimeError(
            "STRIPE_API_KEY is not set: set it (sk_test_... for Stripe's test mode), or STRIPE_API_BASE to a "
            "Stripe-compatible server such as the localstripe `make run` starts"
        )
    return StripeProvider(key, api_base=settings.stripe_api_base)
