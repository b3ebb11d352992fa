"""Routes of the payments resource (contract section 6), adapting the use cases of `usecases.payments`.

A payment succeeds through the order's workflow, which marks the order Paid in the same step; a payment that
fails only tells the workflow (the order keeps waiting for another payment or its timer).
"""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.auth import OPERATOR, CallerIsOperator
from api.deps import Orders, Page, Payments, ReadSession, SessionMaker
from api.errors import responses
from api.idempotency import Idempotency
from api.paging import paged_responses
from services.payment.errors import (
    PaymentNotFoundError,
)
from services.payment.schemas import (
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    PaymentListItemDto,
    SucceedPaymentRequest,
)
from services.payment.store import PaymentStore
from usecases import payments

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
    keyed: Idempotency,
    provider: Payments,
) -> PaymentDetailsDto:
    """Record a Pending payment of the order's total, in its currency.

    With `"provider": "Stripe"`: the order's one open PaymentIntent at the provider (created on the first call,
    the same one after), for an order awaiting payment only, whoever asks; the amount and currency are the order's
    (`amountMinor` may be left out). The answer carries its `providerId` (`pi_...`) and the `clientSecret` that
    Stripe.js confirms it with in the customer's browser; the order turns Paid once the provider reports the
    payment authorized for its exact total.

    A customer pays only an order awaiting payment. An operator may record one for any order id, as the seed does
    (its Payment .http file records one for an unknown order to fail it); such a payment can never succeed:
    succeeding it answers `order_not_found`. With an `Idempotency-Key`, a retry answers with the payment the first
    attempt recorded.
    """
    payment = await payments.create_payment(sessionmaker, body, operator=operator, keyed=keyed, provider=provider)
    response.headers["Location"] = f"/api/payments/{payment.id}"
    return payment


@router.post(
    "/api/payments/{payment_id}/succeed", responses=responses(400, 404, 409, 415, 422, 429), dependencies=[OPERATOR]
)
async def succeed_payment(
    payment_id: UUID, orders: Orders, keyed: Idempotency, body: SucceedPaymentRequest | None = None
) -> PaymentDetailsDto:
    """Pending -> Succeeded, and the order -> Paid. Refused (payment stays Pending) if the order cannot be paid.

    Only the order's workflow makes a payment succeed, and only by paying the order: a payment for an order that
    is already paid is refused (`order_already_paid`), one for another amount or currency too (a payment
    recorded before creation checked it). Strict, as the seed's: succeeding it again is refused
    (`payment_not_pending`), except for a retry with the same `Idempotency-Key`, which gets the first attempt's
    outcome.
    """
    return await payments.succeed_payment(orders, payment_id, body, keyed)


@router.post("/api/payments/{payment_id}/fail", responses=responses(400, 404, 415, 422), dependencies=[OPERATOR])
async def fail_payment(
    payment_id: UUID, orders: Orders, keyed: Idempotency, body: FailPaymentRequest | None = None
) -> PaymentDetailsDto:
    """Pending -> Failed. The order is untouched and can still be paid with another payment.

    Strict, as the seed's, except for a retry with the same `Idempotency-Key`: it answers with the failed payment.
    """
    return await payments.fail_payment(orders, payment_id, body, keyed)


@router.post("/api/payments/{payment_id}/refresh", responses=responses(400, 404))
async def refresh_payment(payment_id: UUID, orders: Orders, provider: Payments) -> PaymentDetailsDto:
    """Re-read a provider payment's PaymentIntent (the shop's page does, once the customer confirmed it): when the
    provider reports it authorized, the order's workflow is told and decides. Changes nothing the provider does not
    say, so anyone may ask; a manual payment is answered as it is."""
    return await payments.refresh_payment(orders, provider, payment_id)


@router.get("/api/orders/{order_id}/payments", tags=["orders"], responses=responses(404), dependencies=[OPERATOR])
async def list_order_payments(order_id: UUID, session: ReadSession) -> list[PaymentDetailsDto]:
    """The order's payments, oldest first: provider, provider id (`pi_...`), status, and the money the provider
    reported authorized, captured and refunded (minor units)."""
    return await payments.order_payments(session, order_id)
