"""The shop's simulated card payment: Stripe's test cards, paid through the payment use cases. No card data is
kept or sent anywhere."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import OrderWorkflows
from contracts.order import OrderDetails
from services.errors import DomainError
from services.payment.schemas import (
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    SucceedPaymentRequest,
)
from usecases import payments

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
CARD_PROVIDER = "TestCard"
DECLINE_REASON = "card_declined: the test card 4000 0000 0000 0002 is always declined"


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


@asynccontextmanager
async def one_payer_at_a_time(sessionmaker: async_sessionmaker[AsyncSession], order_id: UUID) -> AsyncIterator[None]:
    """Serialise the shop's payments of one order (a PostgreSQL advisory lock held by a transaction).

    Two "Pay now" submissions at once would otherwise both see the order PendingPayment and both charge it:
    the second payment's `succeed` is a no-op for the workflow, so it would be recorded as succeeded too.
    Under the lock, the second one sees the order Paid and is refused before it creates a payment.
    """
    key = int.from_bytes(order_id.bytes[:8], "big", signed=True)
    async with sessionmaker.begin() as session:
        await session.execute(select(func.pg_advisory_xact_lock(key)))
        yield


async def pay(workflows: OrderWorkflows, order: OrderDetails, outcome: CardOutcome, last4: str) -> PaymentDetailsDto:
    """A payment of the order's total, then `succeed` (the order becomes Paid) or `fail` (it keeps waiting)."""
    request = CreatePaymentRequest(
        order_id=order.id, amount_minor=order.total_amount_minor, currency=order.currency, provider=CARD_PROVIDER
    )
    payment = await payments.create_payment(workflows.sessionmaker, request, operator=False, keyed=None)
    if outcome is CardOutcome.APPROVED:
        succeed = SucceedPaymentRequest(provider_reference=f"card-{last4}")
        return await payments.succeed_payment(workflows, payment.id, succeed, None)
    return await payments.fail_payment(workflows, payment.id, FailPaymentRequest(failure_reason=DECLINE_REASON), None)
