"""Routes of the payments resource (contract section 6).

A payment succeeds through the order's workflow, which marks the order Paid in the same step; a payment that
fails only tells the workflow (the order keeps waiting for another payment or its timer).
"""

from uuid import UUID

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OPERATOR, CallerIsOperator
from api.deps import Orders, Page, ReadSession, SessionMaker
from api.errors import responses
from api.idempotency import Idempotency, claim_action, claim_create, update_id_of
from api.paging import paged_responses
from contracts.order import ORDER_ALREADY_PAID, MarkPaid, OrderStatus
from services.errors import DomainError
from services.ordering.store import OrderingStore, OrderTotal
from services.payment.errors import (
    OrderAlreadyPaidError,
    OrderNotAwaitingPaymentError,
    PaymentNotFoundError,
    PaymentNotPendingError,
)
from services.payment.schemas import (
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    PaymentListItemDto,
    PaymentStatus,
    SucceedPaymentRequest,
)
from services.payment.store import AmountDue, PaymentStore, check_amount_due, normalize_provider_reference
from stack.db import autocommit
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


@router.post("/api/payments", responses=responses(400, 415, 422), status_code=status.HTTP_201_CREATED)
async def create_payment(
    body: CreatePaymentRequest,
    sessionmaker: SessionMaker,
    response: Response,
    operator: CallerIsOperator,
    keyed: Idempotency = None,
) -> PaymentDetailsDto:
    """Record a Pending payment of the order's total, in its currency.

    A customer pays only an order awaiting payment. An operator may record one for any order id, as the seed does
    (its Payment .http file records one for an unknown order to fail it); such a payment can never succeed:
    succeeding it answers `order_not_found`. With an `Idempotency-Key`, a retry answers with the payment the first
    attempt recorded.
    """
    # Without a key, the read and the insert need no common transaction (the read holds nothing): two statements
    # in autocommit. A key's claim stands or falls with the payment it names.
    async with sessionmaker.begin() if keyed is not None else autocommit(sessionmaker) as session:
        payment_id, existing = await claim_create(session, keyed, body, PaymentStore(session).get)
        if existing is not None:
            response.headers["Location"] = f"/api/payments/{existing.id}"
            return existing
        order = await OrderingStore(session).total(body.order_id)
        if not operator and (order is None or order.status is not OrderStatus.PENDING_PAYMENT):
            raise OrderNotAwaitingPaymentError(body.order_id)
        payment = await PaymentStore(session).create(body, _amount_due(order), payment_id=payment_id)
    response.headers["Location"] = f"/api/payments/{payment.id}"
    return payment


def _amount_due(order: OrderTotal | None) -> AmountDue | None:
    return None if order is None else AmountDue(amount_minor=order.total_amount_minor, currency=order.currency)


@router.post(
    "/api/payments/{payment_id}/succeed", responses=responses(400, 404, 409, 415, 422, 429), dependencies=[OPERATOR]
)
async def succeed_payment(
    payment_id: UUID, orders: Orders, body: SucceedPaymentRequest | None = None, keyed: Idempotency = None
) -> PaymentDetailsDto:
    """Pending -> Succeeded, and the order -> Paid. Refused (payment stays Pending) if the order cannot be paid.

    Only the order's workflow makes a payment succeed, and only by paying the order: a payment for an order that
    is already paid is refused (`order_already_paid`), one for another amount or currency too (a payment
    recorded before creation checked it). Strict, as the seed's: succeeding it again is refused
    (`payment_not_pending`), except for a retry with the same `Idempotency-Key`, which gets the first attempt's
    outcome.
    """
    reference = normalize_provider_reference(body.provider_reference if body else None)
    key = await claim_action(orders, keyed, body)

    async def payment_and_due(session: AsyncSession) -> tuple[PaymentDetailsDto, AmountDue | None]:
        payment = await PaymentStore(session).get(payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        return payment, _amount_due(await OrderingStore(session).total(payment.order_id))

    payment, due = await orders.read(payment_and_due)
    if payment.status is not PaymentStatus.PENDING:
        if key is not None and key.retry and payment.status is PaymentStatus.SUCCEEDED:
            if await orders.outcome_of(payment.order_id, OrderWorkflow.mark_paid, key.update_id) is not None:
                return payment  # this key's first attempt made it succeed
        raise PaymentNotPendingError(payment_id, payment.status)
    if due is not None:
        check_amount_due(payment.amount_minor, payment.currency, due)
    message = MarkPaid(payment_id=payment_id, provider_reference=reference)
    try:
        await orders.act(payment.order_id, OrderWorkflow.mark_paid, message, update_id=update_id_of(key))
    except DomainError as refusal:
        # Refused as a second payment, unless this very payment paid the order: an earlier attempt of this
        # request whose answer was lost (a killed worker, a 503) got there after this one read it Pending.
        if refusal.code != ORDER_ALREADY_PAID:
            raise
    paid = await orders.read(lambda session: PaymentStore(session).get(payment_id))
    if paid is None or paid.status is not PaymentStatus.SUCCEEDED:
        # the order took no payment: it was already paid (a finished run, or an action the run had nothing to do)
        raise OrderAlreadyPaidError(payment.order_id)
    return paid


@router.post("/api/payments/{payment_id}/fail", responses=responses(400, 404, 415, 422), dependencies=[OPERATOR])
async def fail_payment(
    payment_id: UUID, orders: Orders, body: FailPaymentRequest | None = None, keyed: Idempotency = None
) -> PaymentDetailsDto:
    """Pending -> Failed. The order is untouched and can still be paid with another payment.

    Strict, as the seed's, except for a retry with the same `Idempotency-Key`: it answers with the failed payment.
    """
    reason = body.failure_reason if body else None
    key = await claim_action(orders, keyed, body)
    retry = key is not None and key.retry
    payment = await orders.write(lambda session: PaymentStore(session).mark_failed(payment_id, reason, repeat_ok=retry))
    await orders.signal_payment_failed(payment.order_id, payment.id, payment.failure_reason)
    return payment
