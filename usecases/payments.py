"""A payment's life: recorded Pending, then succeeded (the order becomes Paid, through its workflow) or failed.

A Stripe payment is one PaymentIntent at the provider: created here (one open intent per order), confirmed in the
customer's browser, and learnt of through hints (the shop's return, a signed webhook, the reconciliation), each of
which re-reads the intent from the provider and tells the order's workflow, which re-reads it again and decides.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import OrderUpdate, OrderWorkflows
from contracts.order import ORDER_ALREADY_PAID, TERMINAL_STATUSES, MarkPaid, OrderStatus
from services.errors import DomainError, OrderIdRequiredError
from services.ordering.errors import OrderNotFoundError
from services.ordering.store import OrderingStore, OrderTotal
from services.payment.decisions import AmountDue, is_voidable
from services.payment.errors import (
    OrderAlreadyPaidError,
    OrderNotAwaitingPaymentError,
    PaymentNotFoundError,
    PaymentNotPendingError,
    PaymentProviderNotConfiguredError,
    PaymentProviderRefusedError,
    PaymentProviderUnavailableError,
)
from services.payment.ledger import IntentLedger, intent_key
from services.payment.provider import IntentStatus, PaymentProvider, ProviderRefused, ProviderUnavailable
from services.payment.schemas import (
    STRIPE,
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    PaymentStatus,
    SucceedPaymentRequest,
)
from services.payment.store import PaymentStore, check_amount_due, normalize_provider_reference
from services.payment.webhooks import ProviderEvent
from services.schemas import ZERO_UUID
from services.validation import currency_code
from stack.db import autocommit, reading
from usecases.idempotency import KeyedRequest, claim_action, create_once
from usecases.settling import Settlement, settle
from workflows.order import OrderWorkflow


async def create_payment(
    sessionmaker: async_sessionmaker[AsyncSession],
    body: CreatePaymentRequest,
    *,
    operator: bool,
    keyed: KeyedRequest | None,
    provider: PaymentProvider | None = None,
) -> PaymentDetailsDto:
    """A Pending payment of the order's total, in its currency (with a key, the one its first request recorded).

    A customer pays only an order awaiting payment; an operator may record one for any order id, as the seed does.
    With provider `Stripe`, the order's one open PaymentIntent (see `create_intent_payment`).
    """
    if (body.provider or "").strip().lower() == STRIPE.lower():
        return await create_intent_payment(sessionmaker, provider, body)
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


async def create_intent_payment(
    sessionmaker: async_sessionmaker[AsyncSession], provider: PaymentProvider | None, body: CreatePaymentRequest
) -> PaymentDetailsDto:
    """The order's one open PaymentIntent, created at the provider when it has none (amount and currency from the
    order, captured later, the order id in its metadata), with the client secret the shop's page confirms it with.

    Only an order awaiting payment gets one, whoever asks. The order's payments are serialised (a transaction's
    advisory lock), and the provider's idempotency key is derived from the order and its count of intents, so two
    requests at once, or a retry after a lost answer, get the same intent.
    """
    if body.order_id == ZERO_UUID:
        raise OrderIdRequiredError()
    if provider is None:
        raise PaymentProviderNotConfiguredError()
    with provider_answers():
        return await _open_intent(sessionmaker, provider, body)


async def _open_intent(
    sessionmaker: async_sessionmaker[AsyncSession], provider: PaymentProvider, body: CreatePaymentRequest
) -> PaymentDetailsDto:
    # No connection is held while the provider answers, nor any lock (60 clicks of one pay button must not drain
    # the pool): requests at once read the same count of intents, so they send the provider the same idempotency
    # key, get the same intent, and the row's unique provider id keeps one of their inserts.
    async with reading(sessionmaker) as session:
        order = await OrderingStore(session).total(body.order_id)
        if order is None or order.status is not OrderStatus.PENDING_PAYMENT:
            raise OrderNotAwaitingPaymentError(body.order_id)
        due = _amount_due(order)
        assert due is not None
        if body.amount_minor:  # optional for an intent: when given, it must be the order's total
            check_amount_due(body.amount_minor, currency_code(body.currency or due.currency), due)
        payments = PaymentStore(session)
        pending = await payments.provider_payments(body.order_id, PaymentStatus.PENDING)
        attempt = len([p for p in await payments.list_for_order(body.order_id) if p.provider_id is not None])
    for payment in pending:
        intent = await provider.retrieve(payment.provider_id or "")
        if is_voidable(intent):
            return payment.model_copy(update={"client_secret": intent.client_secret})
    intent = await provider.create_intent(
        order_id=body.order_id,
        amount_minor=due.amount_minor,
        currency=due.currency,
        idempotency_key=intent_key(body.order_id, attempt),
    )
    request = CreatePaymentRequest(
        order_id=body.order_id, amount_minor=due.amount_minor, currency=due.currency, provider=STRIPE
    )
    try:
        async with sessionmaker.begin() as session:
            payment = await PaymentStore(session).create(request, due, provider_id=intent.id)
    except IntegrityError:
        async with reading(sessionmaker) as session:
            recorded = await PaymentStore(session).get_by_provider_id(intent.id)
        if recorded is None:
            raise
        payment = recorded  # a request at once recorded the same intent
    return payment.model_copy(update={"client_secret": intent.client_secret})


async def refresh_payment(
    orders: OrderWorkflows, provider: PaymentProvider | None, payment_id: UUID
) -> PaymentDetailsDto:
    """Re-read a payment's PaymentIntent from the provider (the shop's return after confirming it): when it is
    authorized, the order's workflow is told and decides; one authorized for a closed order is voided."""
    payment = await orders.read(lambda session: PaymentStore(session).get(payment_id))
    if payment is None:
        raise PaymentNotFoundError(payment_id)
    if payment.provider_id is not None:
        with provider_answers():
            await _hint(orders, _ledger(orders, provider), payment)
    refreshed = await orders.read(lambda session: PaymentStore(session).get(payment_id))
    assert refreshed is not None
    return refreshed


async def intent_changed(orders: OrderWorkflows, provider: PaymentProvider | None, event: ProviderEvent) -> bool:
    """A verified webhook event: processed once per event id; a PaymentIntent's event is a hint to re-read it.
    False when the event was processed before (nothing happens again); irrelevant events are only remembered.

    The event is claimed in a short transaction of its own, so no connection is held while the provider and the
    workflow answer; if processing fails the claim is given back and the provider's redelivery processes it.
    """
    if not await orders.write(lambda session: PaymentStore(session).record_webhook_event(event.id, event.type)):
        return False
    if event.intent_id is None:
        return True
    intent_id = event.intent_id
    try:
        payment = await orders.read(lambda session: PaymentStore(session).get_by_provider_id(intent_id))
        with provider_answers():
            if payment is not None:
                await _hint(orders, _ledger(orders, provider), payment)
            else:
                await _void_foreign(orders, _ledger(orders, provider).provider, intent_id)
    except BaseException:
        await orders.write(lambda session: PaymentStore(session).forget_webhook_event(event.id))
        raise
    return True


async def _void_foreign(orders: OrderWorkflows, provider: PaymentProvider, intent_id: str) -> None:
    """An intent authorized for one of our orders that none of our payments names (made with the secret key,
    outside this API) would hold the customer's money forever: it is voided. Our own intents are recorded before
    anyone gets their client secret, so none of them can be authorized without its row; an intent whose order is
    not ours (another application on the same account) is left alone."""
    try:
        intent = await provider.retrieve(intent_id)
    except ProviderRefused:
        return  # the provider knows no such intent: nothing is held
    order_id = intent.order_id
    if order_id is None or intent.status is not IntentStatus.REQUIRES_CAPTURE:
        return
    if await orders.read(lambda session: OrderingStore(session).status(order_id)) is not None:
        await provider.cancel(intent.id, idempotency_key=f"void-unrecorded-{intent.id}")


def _ledger(orders: OrderWorkflows, provider: PaymentProvider | None) -> IntentLedger:
    if provider is None:
        raise PaymentProviderNotConfiguredError()
    return IntentLedger(orders.sessionmaker, provider)


@contextmanager
def provider_answers() -> Iterator[None]:
    """The provider's failures as the API's answers: unreachable is 503 (try again), a refusal 400."""
    try:
        yield
    except ProviderUnavailable as error:
        raise PaymentProviderUnavailableError(str(error)) from error
    except ProviderRefused as error:
        raise PaymentProviderRefusedError(error.message) from error


async def _hint(orders: OrderWorkflows, ledger: IntentLedger, payment: PaymentDetailsDto) -> None:
    status = await orders.read(lambda session: OrderingStore(session).status(payment.order_id))
    order_open = status is not None and status not in TERMINAL_STATUSES
    if await ledger.refresh(payment, order_open=order_open):
        if not await orders.signal_payment_authorized(payment.order_id, payment.id):
            await ledger.refresh(payment, order_open=False)  # the run finished meanwhile: nobody else will void it


async def order_payments(session: AsyncSession, order_id: UUID) -> list[PaymentDetailsDto]:
    """Every payment of the order, oldest first, with its provider's id and the money it moved; 404 if there is no
    such order."""
    if await OrderingStore(session).status(order_id) is None:
        raise OrderNotFoundError(read=True)
    return await PaymentStore(session).list_for_order(order_id)


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
