"""The pure decisions about a provider's PaymentIntent: only the order's exact total, authorized while the order
awaits payment, pays it; what is captured is never captured again; what is left to refund is received - refunded."""

import uuid

import pytest

from services.payment.decisions import AmountDue, IntentVerdict, is_captured, is_voidable, judge_intent, refund_due
from services.payment.provider import IntentStatus, ProviderIntent

DUE = AmountDue(amount_minor=6900, currency="USD")


def intent(
    status: IntentStatus,
    amount: int = 6900,
    currency: str = "USD",
    capturable: int | None = None,
    received: int = 0,
    refunded: int = 0,
) -> ProviderIntent:
    if capturable is None:
        capturable = amount if status is IntentStatus.REQUIRES_CAPTURE else 0
    return ProviderIntent(
        id="pi_1",
        status=status,
        amount_minor=amount,
        currency=currency,
        amount_capturable_minor=capturable,
        amount_received_minor=received,
        amount_refunded_minor=refunded,
        order_id=uuid.uuid4(),
    )


def test_an_authorization_of_the_exact_total_secures_an_order_awaiting_payment() -> None:
    assert judge_intent(intent(IntentStatus.REQUIRES_CAPTURE), DUE, payable=True) is IntentVerdict.SECURES
    assert judge_intent(intent(IntentStatus.REQUIRES_CAPTURE, currency="usd"), DUE, payable=True) is (
        IntentVerdict.SECURES
    )


@pytest.mark.parametrize(
    "authorized",
    [
        intent(IntentStatus.REQUIRES_CAPTURE, amount=6899),
        intent(IntentStatus.REQUIRES_CAPTURE, amount=6901),
        intent(IntentStatus.REQUIRES_CAPTURE, currency="EUR"),
        intent(IntentStatus.REQUIRES_CAPTURE, capturable=100),  # partly authorized
    ],
    ids=["less", "more", "currency", "partial"],
)
def test_any_other_authorization_is_voided(authorized: ProviderIntent) -> None:
    assert judge_intent(authorized, DUE, payable=True) is IntentVerdict.VOID


def test_an_exact_authorization_of_an_order_not_awaiting_payment_is_voided() -> None:
    assert judge_intent(intent(IntentStatus.REQUIRES_CAPTURE), DUE, payable=False) is IntentVerdict.VOID


@pytest.mark.parametrize(
    "status",
    [
        IntentStatus.REQUIRES_PAYMENT_METHOD,  # not confirmed yet, or declined
        IntentStatus.REQUIRES_CONFIRMATION,
        IntentStatus.REQUIRES_ACTION,  # 3-D Secure pending
        IntentStatus.PROCESSING,
    ],
)
def test_an_intent_not_authorized_yet_waits(status: IntentStatus) -> None:
    assert judge_intent(intent(status), DUE, payable=True) is IntentVerdict.WAIT
    assert judge_intent(intent(status), DUE, payable=False) is IntentVerdict.WAIT
    assert is_voidable(intent(status))


@pytest.mark.parametrize("status", [IntentStatus.CANCELED, IntentStatus.SUCCEEDED])
def test_a_settled_intent_is_left_as_it_is(status: IntentStatus) -> None:
    assert judge_intent(intent(status), DUE, payable=True) is IntentVerdict.SETTLED
    assert not is_voidable(intent(status))


def test_captured_and_what_is_left_to_refund() -> None:
    captured = intent(IntentStatus.SUCCEEDED, received=6900)
    assert is_captured(captured) and not is_captured(intent(IntentStatus.REQUIRES_CAPTURE))
    assert refund_due(captured) == 6900
    assert refund_due(intent(IntentStatus.SUCCEEDED, received=6900, refunded=900)) == 6000
    assert refund_due(intent(IntentStatus.SUCCEEDED, received=6900, refunded=6900)) == 0
    assert refund_due(intent(IntentStatus.CANCELED)) == 0
