"""Routes of the payments resource (contract section 6).

A payment succeeds through the order's workflow, which marks the order Paid in the same step; a payment that
fails only tells the workflow (the order keeps waiting for another payment or its timer).
"""

from uuid import UUID

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OPERATOR, CallerIsOperator
from api.deps import Orders, Page, ReadSession, Session
from api.errors import responses
from api.paging import paged_responses
from contracts.order import MarkPaid, OrderStatus
from services.ordering.store import OrderingStore
from services.payment.errors import OrderNotAwaitingPaymentError, PaymentNotFoundError
from services.payment.schemas import (
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    PaymentListItemDto,
    PaymentStatus,
    SucceedPaymentRequest,
)
from services.payment.store import PaymentStore, normalize_provider_reference
from workflows.order import OrderWorkflow

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["payments"], responses=responses(503))


@router.get("/api/payments", responses=paged_responses(), dependencies=[OPERATOR])
async def list_payments(session: ReadSession, page: Page) -> list[PaymentListItemDto]:
    """The payments, newest first, a page at a time."""
    return page.answer(await PaymentStore(session).list(page.request))


@router.get("/api/payments/{payment_id}", responses=responses(404), dependencies=[OPERATOR])
async def get_payment(payment_id: UUID, session: ReadSession) -> PaymentDetailsDto:
    payment = await PaymentStore(session).get(payment_id)
    if payment is None:
        raise PaymentNotFoundError(payment_id, read=True)
    return payment


@router.post("/api/payments", responses=responses(400, 415), status_code=status.HTTP_201_CREATED)
async def create_payment(
    body: CreatePaymentRequest, session: Session, response: Response, operator: CallerIsOperator
) -> PaymentDetailsDto:
    """Record a Pending payment for an order awaiting payment; an operator's for any order, as the seed's."""
    if not operator and await OrderingStore(session).status(body.order_id) is not OrderStatus.PENDING_PAYMENT:
        raise OrderNotAwaitingPaymentError(body.order_id)
    payment = await PaymentStore(session).create(body)
    response.headers["Location"] = f"/api/payments/{payment.id}"
    return payment


@router.post("/api/payments/{payment_id}/succeed", responses=responses(400, 404, 415), dependencies=[OPERATOR])
async def succeed_payment(
    payment_id: UUID, orders: Orders, body: SucceedPaymentRequest | None = None
) -> PaymentDetailsDto:
    """Pending -> Succeeded, and the order -> Paid. Refused (payment stays Pending) if the order cannot be paid."""
    reference = normalize_provider_reference(body.provider_reference if body else None)
    payment = await orders.read(lambda session: PaymentStore(session).require_pending(payment_id))

    async def succeeded(session: AsyncSession) -> PaymentDetailsDto | None:
        stored = await PaymentStore(session).get(payment_id)
        return stored if stored is not None and stored.status is PaymentStatus.SUCCEEDED else None

    return await orders.act_then_settle(
        payment.order_id,
        OrderWorkflow.mark_paid,
        MarkPaid(payment_id=payment_id, provider_reference=reference),
        settled=succeeded,
        settle=lambda session: PaymentStore(session).mark_succeeded(payment_id, reference, repeat_ok=True),
    )


@router.post("/api/payments/{payment_id}/fail", responses=responses(400, 404, 415), dependencies=[OPERATOR])
async def fail_payment(payment_id: UUID, orders: Orders, body: FailPaymentRequest | None = None) -> PaymentDetailsDto:
    """Pending -> Failed. The order is untouched and can still be paid with another payment."""
    reason = body.failure_reason if body else None
    payment = await orders.write(lambda session: PaymentStore(session).mark_failed(payment_id, reason))
    await orders.signal_payment_failed(payment.order_id, payment.id, payment.failure_reason)
    return payment
