"""Pure decisions about a provider's PaymentIntent and the order it pays: no I/O, unit-tested on their own.

The provider is the truth: every decision reads an intent as the provider reported it just now (never a webhook's
copy), and the order as its workflow holds it.
"""

from dataclasses import dataclass
from enum import StrEnum

from services.payment.provider import IntentStatus, ProviderIntent


@dataclass(frozen=True)
class AmountDue:
    """What an order asks to be paid: its total, in minor units, and its currency."""

    amount_minor: int
    currency: str


class IntentVerdict(StrEnum):
    SECURES = "secures"  # authorized for exactly the order's amount and currency: the order is paid
    VOID = "void"  # authorized, but not for this order as it stands (another amount, or not payable): cancel it
    WAIT = "wait"  # not authorized (yet): a card to confirm, declined, 3-D Secure pending, processing
    SETTLED = "settled"  # canceled or captured already: nothing to decide


def judge_intent(intent: ProviderIntent, due: AmountDue, *, payable: bool) -> IntentVerdict:
    """What an intent does to its order: it pays the order only if the provider holds exactly the order's total
    (`requires_capture`, the whole amount capturable, same currency) while the order awaits payment (`payable`)."""
    if intent.status in (IntentStatus.CANCELED, IntentStatus.SUCCEEDED):
        return IntentVerdict.SETTLED
    if intent.status is not IntentStatus.REQUIRES_CAPTURE:
        return IntentVerdict.WAIT
    exact = (
        intent.amount_minor == due.amount_minor
        and intent.amount_capturable_minor == due.amount_minor
        and intent.currency.upper() == due.currency.upper()
    )
    return IntentVerdict.SECURES if exact and payable else IntentVerdict.VOID


def is_captured(intent: ProviderIntent) -> bool:
    """The provider has taken the money: capturing again would take nothing more."""
    return intent.status is IntentStatus.SUCCEEDED


def refund_due(intent: ProviderIntent) -> int:
    """What is still to give back of a captured intent, in minor units (0: refunded in full, or nothing taken)."""
    return max(intent.amount_received_minor - intent.amount_refunded_minor, 0)


def is_voidable(intent: ProviderIntent) -> bool:
    """An intent that is neither captured nor canceled can still be canceled, so no money is ever taken by it."""
    return intent.status not in (IntentStatus.CANCELED, IntentStatus.SUCCEEDED)
