"""Our ledger of a provider's PaymentIntents: each operation re-reads the intent from the provider (the truth),
records the money it reports on the payment's row, and acts only as the pure decisions say, so repeating any of
them (a retried activity, a redelivered webhook) changes nothing more.

Every call that moves money carries an idempotency key derived from the order and the payment, so a retry after
a lost answer repeats nothing at the provider either. Manual payments (no `provider_id`) are not touched here.
"""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.payment.decisions import AmountDue, IntentVerdict, is_captured, is_voidable, judge_intent, refund_due
from services.payment.provider import IntentStatus, PaymentProvider, ProviderIntent
from services.payment.schemas import PaymentDetailsDto, PaymentStatus
from services.payment.store import PaymentStore

VOIDED_NOT_PAYABLE = "voided: authorized while the order was not awaiting payment"
VOIDED_MISMATCH = "voided: authorized for another amount or currency than the order's"


def intent_key(order_id: UUID, attempt: int) -> str:
    """The provider idempotency key of an order's `attempt`-th PaymentIntent (0-based)."""
    return f"order-{order_id}-intent-{attempt}"


def capture_key(order_id: UUID) -> str:
    return f"order-{order_id}-capture"


def void_key(order_id: UUID, payment_id: UUID) -> str:
    return f"order-{order_id}-void-{payment_id}"


def refund_key(order_id: UUID, payment_id: UUID) -> str:
    return f"order-{order_id}-refund-{payment_id}"


class PaymentCaptureRefused(Exception):
    """The provider no longer holds the authorization (voided or lapsed): nothing can be captured."""

    def __init__(self, payment_id: UUID, status: IntentStatus) -> None:
        super().__init__(f"Payment {payment_id} cannot be captured: its PaymentIntent is {status.value}")


class ProviderNotConfiguredError(Exception):
    """A provider payment met a process with no provider configured (neither STRIPE_API_KEY nor STRIPE_API_BASE):
    a retryable failure, as configuring the process and restarting it is the fix."""

    def __init__(self) -> None:
        super().__init__("No payment provider is configured: set STRIPE_API_KEY or STRIPE_API_BASE")


class IntentLedger:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], provider: PaymentProvider | None) -> None:
        self.sessionmaker = sessionmaker
        self._provider = provider

    @property
    def provider(self) -> PaymentProvider:
        if self._provider is None:
            raise ProviderNotConfiguredError()
        return self._provider

    async def read(self, payment: PaymentDetailsDto) -> ProviderIntent:
        """The payment's intent as the provider has it now; its amounts recorded on the payment."""
        assert payment.provider_id is not None
        return await self._record(payment, await self.provider.retrieve(payment.provider_id))

    async def secure(self, payment_id: UUID, due: AmountDue, *, payable: bool) -> bool:
        """Whether the payment's intent pays the order (its payment then Succeeded); an intent authorized for
        another amount, or while the order is not `payable`, is voided and its payment Cancelled with why."""
        payment = await self._payment(payment_id)
        if payment.status is PaymentStatus.SUCCEEDED:
            return True  # it paid this order already (a repeat)
        if payment.status is not PaymentStatus.PENDING or payment.provider_id is None:
            return False
        intent = await self.read(payment)
        verdict = judge_intent(intent, due, payable=payable)
        if verdict is IntentVerdict.SECURES:
            async with self.sessionmaker.begin() as session:
                await PaymentStore(session).mark_succeeded(payment_id, intent.id, repeat_ok=True)
            return True
        if verdict is IntentVerdict.VOID:
            await self.void(payment, VOIDED_NOT_PAYABLE if not payable else VOIDED_MISMATCH)
        return False

    async def refresh(self, payment: PaymentDetailsDto, *, order_open: bool) -> bool:
        """Re-read a Pending payment's intent (a webhook's hint, the shop's return, the reconciliation): True when
        it is authorized for an open order, whose workflow then decides. The intent of an order that is closed (no
        run is left to decide) is voided here, authorized or not, so no card can be charged for it later and the
        reconciliation stops re-reading it."""
        intent = await self.read(payment)
        if payment.status is not PaymentStatus.PENDING:
            return False
        if order_open:
            return intent.status is IntentStatus.REQUIRES_CAPTURE
        if is_voidable(intent):
            await self.void(payment, VOIDED_NOT_PAYABLE)
        return False

    async def void(self, payment: PaymentDetailsDto, reason: str) -> None:
        """Cancel the payment's intent if it can still be (no money is ever taken by it), then the payment."""
        intent = await self.read(payment)
        if is_voidable(intent):
            intent = await self.provider.cancel(intent.id, idempotency_key=void_key(payment.order_id, payment.id))
            await self._record(payment, intent)
        async with self.sessionmaker.begin() as session:
            await PaymentStore(session).cancel(payment.id, reason)

    async def capture(self, order_id: UUID, amount_minor: int) -> int:
        """Capture the order's authorized provider payment for `amount_minor`; how many were captured now.

        Capturing an intent captured already is success; one the provider no longer holds is refused."""
        captured = 0
        for payment in await self._payments(order_id, PaymentStatus.SUCCEEDED):
            intent = await self.read(payment)
            if is_captured(intent):
                continue
            if intent.status is not IntentStatus.REQUIRES_CAPTURE:
                raise PaymentCaptureRefused(payment.id, intent.status)
            intent = await self.provider.capture(
                intent.id, amount_minor=amount_minor, idempotency_key=capture_key(order_id)
            )
            await self._record(payment, intent)
            captured += 1
        return captured

    async def void_pending(self, order_id: UUID, reason: str) -> None:
        """Cancel the intents of the order's Pending provider payments (the order no longer takes a payment)."""
        for payment in await self._payments(order_id, PaymentStatus.PENDING):
            await self.void(payment, reason)

    async def give_back(self, order_id: UUID) -> None:
        """Give back the money of the order's Succeeded provider payments: refund what was captured, void what
        is only authorized. The payments' status is the caller's (Refunded, with the manual ones)."""
        for payment in await self._payments(order_id, PaymentStatus.SUCCEEDED):
            intent = await self.read(payment)
            if is_voidable(intent):
                intent = await self.provider.cancel(intent.id, idempotency_key=void_key(order_id, payment.id))
            elif (due := refund_due(intent)) > 0:
                intent = await self.provider.refund(
                    intent.id, amount_minor=due, idempotency_key=refund_key(order_id, payment.id)
                )
            await self._record(payment, intent)

    async def _payment(self, payment_id: UUID) -> PaymentDetailsDto:
        async with self.sessionmaker() as session:
            payment = await PaymentStore(session).get(payment_id)
        if payment is None:
            raise LookupError(f"payment {payment_id} not found")
        return payment

    async def _payments(self, order_id: UUID, status: PaymentStatus) -> list[PaymentDetailsDto]:
        async with self.sessionmaker() as session:
            return await PaymentStore(session).provider_payments(order_id, status)

    async def _record(self, payment: PaymentDetailsDto, intent: ProviderIntent) -> ProviderIntent:
        authorized = max(payment.authorized_minor, intent.amount_capturable_minor, intent.amount_received_minor)
        async with self.sessionmaker.begin() as session:
            await PaymentStore(session).record_amounts(
                payment.id,
                authorized=authorized,
                captured=intent.amount_received_minor,
                refunded=intent.amount_refunded_minor,
            )
        return intent
