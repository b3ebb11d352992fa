"""The simulated card form's one rule: Stripe's test cards. No card data is kept or sent anywhere."""

from enum import StrEnum

from services.errors import DomainError

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


class CardOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


class CardRefused(DomainError):
    """Not a test card: nothing is recorded."""

    def __init__(self) -> None:
        super().__init__(
            "card_not_accepted",
            "This shop takes test cards only: 4242 4242 4242 4242 (succeeds) or 4000 0000 0000 0002 (declined)",
        )


def card_outcome(number: str) -> CardOutcome:
    """What the simulated processor answers for `number` (spaces and dashes ignored); other numbers are refused."""
    digits = "".join(ch for ch in number if ch not in " -")
    if digits == APPROVED_CARD:
        return CardOutcome.APPROVED
    if digits == DECLINED_CARD:
        return CardOutcome.DECLINED
    raise CardRefused()
