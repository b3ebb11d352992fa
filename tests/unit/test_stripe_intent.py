"""How the Stripe adapter reads an intent and classifies a failure: pure functions, no provider."""

import uuid

import pytest
import stripe

from services.payment.provider import IntentStatus, ProviderRefused, ProviderUnavailable
from services.payment.stripe_provider import intent_from_stripe, provider_error

ORDER = uuid.uuid4()


def stripe_intent(status: str, *, charge: dict[str, object] | None = None, **fields: object) -> dict[str, object]:
    return {
        "id": "pi_1",
        "status": status,
        "amount": 5000,
        "currency": "eur",
        "metadata": {"order_id": str(ORDER)},
        "client_secret": "pi_1_secret_x",
        "latest_charge": charge,
        **fields,
    }


def test_stripe_reports_the_amounts_on_the_intent_and_the_refunds_on_its_charge() -> None:
    captured = stripe_intent(
        "succeeded",
        amount_capturable=0,
        amount_received=5000,
        charge={"status": "succeeded", "captured": True, "amount": 5000, "amount_refunded": 1200},
    )
    intent = intent_from_stripe(captured)
    assert intent.status == IntentStatus.SUCCEEDED and intent.currency == "EUR" and intent.order_id == ORDER
    assert (intent.amount_capturable_minor, intent.amount_received_minor, intent.amount_refunded_minor) == (
        0,
        5000,
        1200,
    )


def test_localstripe_amounts_come_from_the_charge() -> None:
    charge = {"status": "succeeded", "captured": False, "amount": 5000, "amount_refunded": 0}
    authorized = intent_from_stripe(stripe_intent("requires_capture", charge=charge))
    assert (authorized.amount_capturable_minor, authorized.amount_received_minor) == (5000, 0)
    captured = intent_from_stripe(stripe_intent("succeeded", charge={**charge, "captured": True}))
    assert (captured.amount_capturable_minor, captured.amount_received_minor) == (0, 5000)
    declined = intent_from_stripe(stripe_intent("requires_payment_method", charge={**charge, "status": "failed"}))
    assert (declined.amount_capturable_minor, declined.amount_received_minor) == (0, 0)


def test_an_intent_without_charge_or_order_has_nothing() -> None:
    intent = intent_from_stripe(stripe_intent("requires_payment_method", metadata={"order_id": "not-a-uuid"}))
    assert intent.order_id is None
    assert (intent.amount_capturable_minor, intent.amount_received_minor, intent.amount_refunded_minor) == (0, 0, 0)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (stripe.APIConnectionError("down"), True),  # type: ignore[no-untyped-call]
        (stripe.APIError("boom", http_status=500), True),
        (stripe.APIError("busy", http_status=409), True),  # the same key still running elsewhere
        (stripe.RateLimitError("slow down", http_status=429), True),
        (stripe.CardError("declined", None, "card_declined", http_status=402), False),  # type: ignore[no-untyped-call]
        (stripe.InvalidRequestError("no such intent", None, http_status=404), False),  # type: ignore[no-untyped-call]
        (stripe.AuthenticationError("bad key", http_status=401), False),
    ],
)
def test_only_what_may_pass_later_is_retryable(error: stripe.StripeError, retryable: bool) -> None:
    mapped = provider_error(error)
    assert isinstance(mapped, ProviderUnavailable if retryable else ProviderRefused)


def test_a_refusal_keeps_the_provider_code() -> None:
    declined = stripe.CardError("Your card was declined.", None, "card_declined", http_status=402)  # type: ignore[no-untyped-call]
    mapped = provider_error(declined)
    assert isinstance(mapped, ProviderRefused) and mapped.code == "card_declined"
