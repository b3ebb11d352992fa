"""Routes of the payments resource (contract section 6).

A payment succeeds through the order's workflow, which marks the order Paid in the same step; a payment that
fails only tells the workflow (the order keeps waiting for another payment or its timer).
"""

from uuid import UUID

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Orders, ReadSession, Session
from api.errors import responses
from contracts.order import MarkPaid, OrderDetails
from services.ordering.store import OrderingStore
from services.payment.errors import OrderAlreadyPaidError, PaymentNotFoundError
from services.payment.schemas import (
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    PaymentListItemDto,
    PaymentStatus,
    SucceedPaymentRequest,
)
from services.payment.store import AmountDue, PaymentStore, check_amount_due, normalize_provider_reference
from workflows.order import OrderWorkflow

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["payments"], responses=responses(503))


@router.get("/api/payments")
async def list_payments(session: ReadSession) -> list[PaymentListItemDto]:
    """Every payment, newest first."""
    return await PaymentStore(session).list()


@router.get("/api/payments/{payment_id}", responses=responses(404))
async def get_payment(payment_id: UUID, session: ReadSession) -> PaymentDetailsDto:
    payment = await PaymentStore(session).get(payment_id)
    if payment is None:
        raise PaymentNotFoundError(payment_id, read=True)
    return payment


@router.post("/api/payments", responses=responses(400, 415), status_code=status.HTTP_201_CREATED)
async def create_payment(body: CreatePaymentRequest, session: Session, response: Response) -> PaymentDetailsDto:
    """Record a Pending payment of the order's total, in its currency.

    A payment for an unknown order id is accepted, as the seed does (its Payment .http file records one to fail
    it); it can never succeed: succeeding it answers `order_not_found`.
    """
    order = await OrderingStore(session).get(body.order_id)
    payment = await PaymentStore(session).create(body, _amount_due(order))
    response.headers["Location"] = f"/api/payments/{payment.id}"
    return payment


def _amount_due(order: OrderDetails | None) -> AmountDue | None:
    return None if order is None else AmountDue(amount_minor=order.total_amount_minor, currency=order.currency)


@router.post("/api/payments/{payment_id}/succeed", responses=responses(400, 404, 415))
async def succeed_payment(
    payment_id: UUID, orders: Orders, body: SucceedPaymentRequest | None = None
) -> PaymentDetailsDto:
    """Pending -> Succeeded, and the order -> Paid. Refused (payment stays Pending) if the order cannot be paid.

    Only the order's workflow makes a payment succeed, and only by paying the order: a payment for an order that
    is already paid is refused (`order_already_paid`), one for another amount or currency too (a payment
    recorded before creation checked it).
    """
    reference = normalize_provider_reference(body.provider_reference if body else None)

    async def pending_and_due(session: AsyncSession) -> tuple[PaymentDetailsDto, AmountDue | None]:
        payment = await PaymentStore(session).require_pending(payment_id)
        return payment, _amount_due(await OrderingStore(session).get(payment.order_id))

    payment, due = await orders.read(pending_and_due)
    if due is not None:
        check_amount_due(payment.amount_minor, payment.currency, due)
    await orders.act(
        payment.order_id, OrderWorkflow.mark_paid, MarkPaid(payment_id=payment_id, provider_reference=reference)
    )
    paid = await orders.read(lambda session: PaymentStore(session).get(payment_id))
    if paid is None or paid.status is not PaymentStatus.SUCCEEDED:
        # the order took no payment: it was already paid (a finished run, or an action the run had nothing to do)
        raise OrderAlreadyPaidError(payment.order_id)
    return paid


@router.post("/api/payments/{payment_id}/fail", responses=responses(400, 404, 415))
async def fail_payment(payment_id: UUID, orders: Orders, body: FailPaymentRequest | None = None) -> PaymentDetailsDto:
    """Pending -> Failed. The order is untouched and can still be paid with another payment."""
    reason = body.failure_reason if body else None
    payment = await orders.write(lambda session: PaymentStore(session).mark_failed(payment_id, reason))
    await orders.signal_payment_failed(payment.order_id, payment.id, payment.failure_reason)
    return payment
