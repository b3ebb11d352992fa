"""Payment activities: a succeeded payment, a provider's authorization judged, captured on shipment, and the
payment side of cancelling or expiring an order (voids and refunds at the provider, then our rows)."""

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities.errors import refusals_as_application_errors
from contracts.activities import PaymentSteps
from contracts.order import (
    TERMINAL_STATUSES,
    CapturePayment,
    IntentHint,
    OrderRef,
    PaymentSecured,
    ReconcileIntents,
    SecurePayment,
    SucceedPayment,
)
from services.ordering.store import OrderingStore
from services.payment.decisions import AmountDue
from services.payment.ledger import IntentLedger, PaymentCaptureRefused
from services.payment.provider import PaymentProvider, ProviderRefused
from services.payment.store import PaymentStore
from services.schemas import utcnow
from stack.db import autocommit

PAYMENT_CAPTURE_FAILED = "payment_capture_failed"
VOIDED_ORDER_CLOSED = "voided: the order no longer takes a payment"


class PaymentActivities(PaymentSteps):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        provider: PaymentProvider | None,
        authorization_valid: timedelta,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.ledger = IntentLedger(sessionmaker, provider)
        self.authorization_valid = authorization_valid

    async def mark_succeeded(self, request: SucceedPayment) -> None:
        """Pending -> Succeeded; a payment that already succeeded is left as it is.

        In autocommit (no BEGIN and COMMIT round trips): the usual case is one conditional UPDATE, atomic by itself.
        """
        with refusals_as_application_errors():
            async with autocommit(self.sessionmaker) as session:
                await PaymentStore(session).mark_succeeded(
                    request.payment_id, request.provider_reference, repeat_ok=True
                )

    async def cancel_pending(self, request: OrderRef) -> int:
        """Void the PaymentIntents of the order's pending provider payments, then cancel every pending payment;
        returns how many changed (0 on a repeat). The last is one statement, in autocommit."""
        await self.ledger.void_pending(request.order_id, VOIDED_ORDER_CLOSED)
        async with autocommit(self.sessionmaker) as session:
            return len(await PaymentStore(session).cancel_pending_for_order(request.order_id))

    async def refund(self, request: OrderRef) -> int:
        """Give back at the provider what the order's succeeded payments took (refund captured, void authorized),
        then refund every succeeded payment; returns how many changed (0 on a repeat)."""
        await self.ledger.give_back(request.order_id)
        async with autocommit(self.sessionmaker) as session:
            return len(await PaymentStore(session).refund_succeeded_for_order(request.order_id))

    async def secure(self, request: SecurePayment) -> PaymentSecured:
        """Whether the payment's intent pays the order; when it does, until when the provider holds it."""
        due = AmountDue(amount_minor=request.amount_minor, currency=request.currency)
        if not await self.ledger.secure(request.payment_id, due, payable=request.payable):
            return PaymentSecured(secured=False)
        return PaymentSecured(secured=True, valid_until=utcnow() + self.authorization_valid)

    async def capture(self, request: CapturePayment) -> int:
        """Capture the order's authorized provider payment (idempotent by key and by the intent's state)."""
        try:
            return await self.ledger.capture(request.order_id, request.amount_minor)
        except (PaymentCaptureRefused, ProviderRefused) as refused:
            raise ApplicationError(str(refused), type=PAYMENT_CAPTURE_FAILED, non_retryable=True) from refused

    async def reconcile(self, request: ReconcileIntents) -> list[IntentHint]:
        """Re-read every open PaymentIntent: hints for those authorized for open orders; those of closed orders
        are voided. Repeating it re-reads again and changes nothing more."""
        async with self.sessionmaker() as session:
            payments = await PaymentStore(session).open_intents(request.limit)
        hints = []
        for payment in payments:
            async with self.sessionmaker() as session:
                status = await OrderingStore(session).status(payment.order_id)
            order_open = status is not None and status not in TERMINAL_STATUSES
            if await self.ledger.refresh(payment, order_open=order_open):
                hints.append(IntentHint(order_id=payment.order_id, payment_id=payment.id))
        return hints
