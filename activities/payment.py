"""Payment activities: a succeeded payment, and the payment side of cancelling or expiring an order."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.errors import refusals_as_application_errors
from contracts.activities import PaymentSteps
from contracts.order import OrderRef, SucceedPayment
from services.payment.store import PaymentStore
from stack.db import autocommit


class PaymentActivities(PaymentSteps):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

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
        """Cancel the order's pending payments; returns how many changed (0 on a repeat). One statement, in
        autocommit."""
        async with autocommit(self.sessionmaker) as session:
            return len(await PaymentStore(session).cancel_pending_for_order(request.order_id))

    async def refund(self, request: OrderRef) -> int:
        """Refund the order's succeeded payments; returns how many changed (0 on a repeat). One statement, in
        autocommit."""
        async with autocommit(self.sessionmaker) as session:
            return len(await PaymentStore(session).refund_succeeded_for_order(request.order_id))
