"""A payment's life: recorded Pending, then succeeded (the order becomes Paid, through its workflow) or failed."""

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import OrderUpdate, OrderWorkflows
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
    PaymentStatus,
    SucceedPaymentRequest,
)
from services.payment.store import AmountDue, PaymentStore, check_amount_due, normalize_provider_reference
from stack.db import autocommit
from usecases.idempotency import KeyedRequest, claim_action, create_once
from usecases.settling import Settlement, settle
from workflows.order import OrderWorkflow


async def create_payment(
    sessionmaker: async_sessionmaker[AsyncSession],
    body: CreatePaymentRequest,
    *,
    operator: bool,
    keyed: KeyedRequest | None,
) -> PaymentDetailsDto:
    """A Pending payment of the order's total, in its currency (with a key, the one its first request recorded).

    A customer pays only an order awaiting payment; an operator may record one for any order id, as the seed does.
    """
    # Without a key, the read and the insert need no common transaction (the read holds nothing): two statements
    # in autocommit. A key's claim stands or falls with the payment it names.
    async with sessionmaker.begin() if keyed is not None else autocommit(sessionmaker) as session:
        payments = PaymentStore(session)

        async def record(payment_id: UUID | None) -> PaymentDetailsDto:
            order = await OrderingStore(session).total(body.order_id)
            if not operator and (order is None or order.status is not OrderStatus.PENDING_PAYMENT):
                raise OrderNotAwaitingPaymentError(body.order_id)
            return await payments.create(body, _amount_due(order), payment_id=payment_id)

        return await create_once(session, keyed, body, payments.get, record)


def _amount_due(order: OrderTotal | None) -> AmountDue | None:
    return None if order is None else AmountDue(amount_minor=order.total_amount_minor, currency=order.currency)


@dataclass(frozen=True)
class _Payable:
    payment: PaymentDetailsDto
    due: AmountDue | None  # None: recorded for an order that does not exist


@dataclass(frozen=True)
class _Success(Settlement[_Payable, MarkPaid]):
    payment_id: UUID
    reference: str | None

    @property
    def update(self) -> OrderUpdate[MarkPaid]:
        return OrderWorkflow.mark_paid

    async def read(self, session: AsyncSession) -> _Payable:
        payment = await PaymentStore(session).get(self.payment_id)
        if payment is None:
            raise PaymentNotFoundError(self.payment_id)
        return _Payable(payment, _amount_due(await OrderingStore(session).total(payment.order_id)))

    def order_id(self, row: _Payable) -> UUID:
        return row.payment.order_id

    def pending(self, row: _Payable) -> bool:
        return row.payment.status is PaymentStatus.PENDING

    def settled(self, row: _Payable) -> bool:
        return row.payment.status is PaymentStatus.SUCCEEDED

    def not_pending(self, row: _Payable) -> DomainError:
        return PaymentNotPendingError(self.payment_id, row.payment.status)

    async def act(self, orders: OrderWorkflows, row: _Payable, update_id: str | None) -> _Payable:
        if row.due is not None:
            check_amount_due(row.payment.amount_minor, row.payment.currency, row.due)
        message = MarkPaid(payment_id=self.payment_id, provider_reference=self.reference)
        try:
            await orders.act(row.payment.order_id, self.update, message, update_id=update_id)
        except DomainError as refusal:
            # Refused as a second payment, unless this very payment paid the order: an earlier attempt of this
            # request whose answer was lost (a killed worker, a 503) got there after this one read it Pending.
            if refusal.code != ORDER_ALREADY_PAID:
                raise
        paid = await orders.read(lambda session: PaymentStore(session).get(self.payment_id))
        if paid is None or paid.status is not PaymentStatus.SUCCEEDED:
            # the order took no payment: it was already paid (a finished run, or an action the run had nothing to do)
            raise OrderAlreadyPaidError(row.payment.order_id)
        return _Payable(paid, row.due)


async def succeed_payment(
    orders: OrderWorkflows, payment_id: UUID, body: SucceedPaymentRequest | None, keyed: KeyedRequest | None
) -> PaymentDetailsDto:
    """Pending -> Succeeded, and the order -> Paid; refused (the payment stays Pending) if the order cannot be paid:
    a payment succeeds only by paying its order, of its amount and currency."""
    reference = normalize_provider_reference(body.provider_reference if body else None)
    return (await settle(orders, _Success(payment_id, reference), keyed, body)).payment


async def fail_payment(
    orders: OrderWorkflows, payment_id: UUID, body: FailPaymentRequest | None, keyed: KeyedRequest | None
) -> PaymentDetailsDto:
    """Pending -> Failed, and the order's workflow told; the order can still be paid with another payment."""
    reason = body.failure_reason if body else None
    async with claim_action(orders.sessionmaker, keyed, body) as key:
        retry = key is not None and key.retry
        payment = await orders.write(
            lambda session: PaymentStore(session).mark_failed(payment_id, reason, repeat_ok=retry)
        )
    await orders.signal_payment_failed(payment.order_id, payment.id, payment.failure_reason)
    return payment
