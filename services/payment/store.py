"""The payment context's store: payment records and their status machine (contract section 6.4).

Pending -> Succeeded | Failed | Cancelled, and Succeeded -> Refunded (our extension, for a paid order that
is cancelled). Which settle applies is `decide_settle`'s answer; every transition is a conditional UPDATE on
`status`, so a transition that races another one either wins or sees the other's result, never overwrites it.
"""

import builtins
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import DateTime, String, Update, Uuid, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import Verdict
from services.errors import OrderIdRequiredError
from services.paging import FIRST_PAGE, Keyset, PageRequest, PageResult, desc
from services.payment.decisions import AmountDue
from services.payment.errors import (
    AmountInvalidError,
    PaymentAmountMismatchError,
    PaymentCurrencyMismatchError,
    PaymentNotFoundError,
    PaymentNotPendingError,
    ProviderRequiredError,
)
from services.payment.models import Payment, WebhookEvent
from services.payment.schemas import (
    CreatePaymentRequest,
    PaymentDetailsDto,
    PaymentListItemDto,
    PaymentStatus,
)
from services.schemas import ZERO_UUID, utcnow
from services.sql import core_table
from services.validation import BY_FIELD_NAME, INT64_MAX, currency_code, optional_text

PROVIDER_MAX = 100
PROVIDER_REFERENCE_MAX = 200
FAILURE_REASON_MAX = 1000


def normalize_provider_reference(value: str | None) -> str | None:
    """The provider reference as stored (trimmed, blank -> None); refuses an over-long one before any change."""
    return optional_text(value, "provider_reference", max_length=PROVIDER_REFERENCE_MAX, wording=BY_FIELD_NAME)


def check_amount_due(amount_minor: int, currency: str, due: AmountDue) -> None:
    """A payment must be for exactly the order's total, in the order's currency (the currency as stored)."""
    if amount_minor != due.amount_minor:
        raise PaymentAmountMismatchError(amount_minor, due.amount_minor)
    if currency != due.currency:
        raise PaymentCurrencyMismatchError(currency, due.currency)


def decide_settle(payment_id: UUID, status: PaymentStatus, target: PaymentStatus, *, repeat_ok: bool) -> Verdict:
    """What settling a payment in `status` as `target` (Succeeded or Failed) does.

    A Pending payment moves (APPLY). One that is `target` already is left as it is (NOOP) when `repeat_ok` (an
    activity retried after it committed); every other status is refused as `payment_not_pending`.
    """
    if status == PaymentStatus.PENDING:
        return Verdict.APPLY
    if repeat_ok and status == target:
        return Verdict.NOOP
    raise PaymentNotPendingError(payment_id, status)


def _details(payment: Payment) -> PaymentDetailsDto:
    return PaymentDetailsDto.model_validate(payment)


def _details_list(payments: Sequence[Payment]) -> list[PaymentDetailsDto]:
    return [_details(p) for p in sorted(payments, key=lambda p: (p.created_at, p.id))]


PAYMENTS = Keyset("payments", desc(Payment.created_at), desc(Payment.id))

_PAYMENTS = core_table(Payment)
_NOW = bindparam("now", type_=DateTime(timezone=True))
_PAYMENT_ID = bindparam("payment_id", type_=Uuid())
_BY_ID = select(_PAYMENTS).where(_PAYMENTS.c.id == _PAYMENT_ID)  # the API reads a payment before and after acting
_INSERT = insert(_PAYMENTS)


def _settle_statement(target: PaymentStatus, stamp: str, **values: object) -> Update:
    """Pending -> `target` in one statement (the APPLY case of `decide_settle`), built once on the table."""
    return (
        update(_PAYMENTS)
        .where(_PAYMENTS.c.id == _PAYMENT_ID, _PAYMENTS.c.status == PaymentStatus.PENDING.value)
        .values(status=target.value, updated_at=_NOW, **{stamp: _NOW}, **values)
        .returning(*_PAYMENTS.c)
    )


_SETTLE = {
    PaymentStatus.SUCCEEDED: _settle_statement(
        PaymentStatus.SUCCEEDED, "succeeded_at", provider_reference=bindparam("reference", type_=String())
    ),
    PaymentStatus.FAILED: _settle_statement(
        PaymentStatus.FAILED, "failed_at", failure_reason=bindparam("reason", type_=String())
    ),
}


class PaymentStore:
    """Reads and changes payments inside the caller's unit of work; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(
        self,
        request: CreatePaymentRequest,
        due: AmountDue | None = None,
        *,
        payment_id: UUID | None = None,
        provider_id: str | None = None,
    ) -> PaymentDetailsDto:
        """Record a Pending payment of `due`, the order's total (None: no such order, accepted as the seed does).

        `payment_id` is the id an Idempotency-Key derived (a fresh one otherwise); `provider_id` the provider's
        PaymentIntent it is paid through (unique: a second row for the same intent is refused by PostgreSQL).
        """
        if request.order_id == ZERO_UUID:
            raise OrderIdRequiredError()
        if request.amount_minor <= 0 or request.amount_minor > INT64_MAX:
            raise AmountInvalidError()
        currency = currency_code(request.currency)
        provider = optional_text(request.provider, "provider", max_length=PROVIDER_MAX, wording=BY_FIELD_NAME)
        if provider is None:
            raise ProviderRequiredError()
        if due is not None:
            check_amount_due(request.amount_minor, currency, due)
        now = utcnow()
        values = {
            "id": payment_id or uuid4(),
            "order_id": request.order_id,
            "amount_minor": request.amount_minor,
            "currency": currency,
            "status": PaymentStatus.PENDING.value,
            "provider": provider,
            "provider_reference": None,
            "failure_reason": None,
            "created_at": now,
            "updated_at": now,
            "succeeded_at": None,
            "failed_at": None,
            "cancelled_at": None,
            "refunded_at": None,
            "provider_id": provider_id,
            "authorized_minor": 0,
            "captured_minor": 0,
            "refunded_minor": 0,
        }
        await self._session.execute(_INSERT, values)
        return PaymentDetailsDto.model_validate(values)

    async def get(self, payment_id: UUID) -> PaymentDetailsDto | None:
        """The payment, or None if there is no such payment."""
        row = (await self._session.execute(_BY_ID, {"payment_id": payment_id})).one_or_none()
        return None if row is None else PaymentDetailsDto.model_validate(row)

    async def list_for_order(self, order_id: UUID) -> list[PaymentDetailsDto]:
        """Every payment of the order, oldest first."""
        payments = await self._session.scalars(
            select(Payment)
            .where(Payment.order_id == order_id)
            .order_by(Payment.created_at, Payment.id)
            .execution_options(populate_existing=True)
        )
        return [_details(p) for p in payments]

    async def get_by_provider_id(self, provider_id: str) -> PaymentDetailsDto | None:
        """The payment paid through this PaymentIntent, or None (not ours)."""
        row = (
            await self._session.execute(select(_PAYMENTS).where(_PAYMENTS.c.provider_id == provider_id))
        ).one_or_none()
        return None if row is None else PaymentDetailsDto.model_validate(row)

    async def provider_payments(self, order_id: UUID, status: PaymentStatus) -> builtins.list[PaymentDetailsDto]:
        """The order's payments in `status` that have a PaymentIntent at a provider, oldest first."""
        rows = await self._session.execute(
            select(_PAYMENTS)
            .where(
                _PAYMENTS.c.order_id == order_id,
                _PAYMENTS.c.status == status.value,
                _PAYMENTS.c.provider_id.is_not(None),
            )
            .order_by(_PAYMENTS.c.created_at, _PAYMENTS.c.id)
        )
        return [PaymentDetailsDto.model_validate(row) for row in rows]

    async def open_intents(self, limit: int) -> builtins.list[PaymentDetailsDto]:
        """Payments whose PaymentIntent may still change at the provider without us hearing of it: Pending ones
        (a card may be confirmed any time) and Succeeded ones not captured yet (authorized; one may lapse)."""
        rows = await self._session.execute(
            select(_PAYMENTS)
            .where(
                _PAYMENTS.c.provider_id.is_not(None),
                (_PAYMENTS.c.status == PaymentStatus.PENDING.value)
                | ((_PAYMENTS.c.status == PaymentStatus.SUCCEEDED.value) & (_PAYMENTS.c.captured_minor == 0)),
            )
            .order_by(_PAYMENTS.c.updated_at)
            .limit(limit)
        )
        return [PaymentDetailsDto.model_validate(row) for row in rows]

    async def record_amounts(self, payment_id: UUID, *, authorized: int, captured: int, refunded: int) -> None:
        """The money the provider reports for the payment's intent, as it reported it last (a re-read that finds
        the same amounts writes nothing)."""
        await self._session.execute(
            update(_PAYMENTS)
            .where(
                _PAYMENTS.c.id == payment_id,
                (_PAYMENTS.c.authorized_minor != authorized)
                | (_PAYMENTS.c.captured_minor != captured)
                | (_PAYMENTS.c.refunded_minor != refunded),
            )
            .values(authorized_minor=authorized, captured_minor=captured, refunded_minor=refunded, updated_at=utcnow())
        )

    async def cancel(self, payment_id: UUID, reason: str) -> PaymentDetailsDto | None:
        """Pending -> Cancelled with why (a voided authorization); None if it was not Pending (a repeat)."""
        now = utcnow()
        row = (
            await self._session.execute(
                update(_PAYMENTS)
                .where(_PAYMENTS.c.id == payment_id, _PAYMENTS.c.status == PaymentStatus.PENDING.value)
                .values(
                    status=PaymentStatus.CANCELLED.value,
                    failure_reason=reason[:FAILURE_REASON_MAX],
                    cancelled_at=now,
                    updated_at=now,
                )
                .returning(*_PAYMENTS.c)
            )
        ).one_or_none()
        return None if row is None else PaymentDetailsDto.model_validate(row)

    async def record_webhook_event(self, event_id: str, event_type: str) -> bool:
        """Remember a processed webhook event; False if it was processed before (a redelivery)."""
        inserted = await self._session.execute(
            pg_insert(WebhookEvent)
            .values(event_id=event_id, type=event_type[:100], received_at=utcnow())
            .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id])
            .returning(WebhookEvent.event_id)
        )
        return inserted.one_or_none() is not None

    async def forget_webhook_event(self, event_id: str) -> None:
        """Give back the claim of an event whose processing failed, so that its redelivery is processed."""
        await self._session.execute(delete(WebhookEvent).where(WebhookEvent.event_id == event_id))

    async def require_pending(self, payment_id: UUID) -> PaymentDetailsDto:
        """The payment if it is Pending, else `payment_not_found` / `payment_not_pending` (both 400).

        A plain read, no lock: the caller checks before it asks the order workflow, whose activity then
        makes the locked transition (a lock held here would block that activity).
        """
        payment = await self.get(payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        if payment.status != PaymentStatus.PENDING:
            raise PaymentNotPendingError(payment_id, payment.status)
        return payment

    async def mark_succeeded(
        self, payment_id: UUID, provider_reference: str | None, *, repeat_ok: bool = False
    ) -> PaymentDetailsDto:
        """Pending -> Succeeded, setting `succeededAt` and the trimmed provider reference.

        An already Succeeded payment is returned unchanged when `repeat_ok` (an activity retried after it
        committed), else refused as `payment_not_pending` like every other status.
        """
        reference = normalize_provider_reference(provider_reference)
        return await self._settle(payment_id, PaymentStatus.SUCCEEDED, {"reference": reference}, repeat_ok)

    async def mark_failed(
        self, payment_id: UUID, failure_reason: str | None, *, repeat_ok: bool = False
    ) -> PaymentDetailsDto:
        """Pending -> Failed, setting `failedAt` and the trimmed failure reason.

        An already Failed payment is returned unchanged when `repeat_ok`, else refused as
        `payment_not_pending` like every other status.
        """
        reason = optional_text(failure_reason, "failure_reason", max_length=FAILURE_REASON_MAX, wording=BY_FIELD_NAME)
        return await self._settle(payment_id, PaymentStatus.FAILED, {"reason": reason}, repeat_ok)

    async def cancel_pending_for_order(self, order_id: UUID) -> list[PaymentDetailsDto]:
        """Every Pending payment of the order -> Cancelled; returns those it changed (none on a repeat)."""
        return await self._transition_all(order_id, PaymentStatus.PENDING, PaymentStatus.CANCELLED, "cancelled_at")

    async def refund_succeeded_for_order(self, order_id: UUID) -> list[PaymentDetailsDto]:
        """Every Succeeded payment of the order -> Refunded; returns those it changed (none on a repeat)."""
        return await self._transition_all(order_id, PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, "refunded_at")

    async def list(self, page: PageRequest = FIRST_PAGE) -> PageResult[PaymentListItemDto]:
        """A page of the payments, newest first."""
        payments = await self._session.scalars(
            PAYMENTS.apply(select(Payment), page).execution_options(populate_existing=True)
        )
        return PAYMENTS.page([PaymentListItemDto.model_validate(p) for p in payments], page)

    async def _settle(
        self, payment_id: UUID, target: PaymentStatus, values: dict[str, str | None], repeat_ok: bool
    ) -> PaymentDetailsDto:
        """Settle one payment as `decide_settle` says, in at most two statements and no lock of our own.

        The usual case (Pending) is the conditional UPDATE alone, atomic by itself, so the caller may run this in
        autocommit. When it changed nothing the payment was not Pending, and no payment ever returns to Pending:
        the decision on the row as read then is final.
        """
        params = {"payment_id": payment_id, "now": utcnow(), **values}
        row = (await self._session.execute(_SETTLE[target], params)).one_or_none()
        if row is not None:
            return PaymentDetailsDto.model_validate(row)
        payment = await self.get(payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        verdict = decide_settle(payment_id, payment.status, target, repeat_ok=repeat_ok)
        assert verdict is Verdict.NOOP, "a payment never returns to Pending"
        return payment

    async def _transition_all(
        self, order_id: UUID, source: PaymentStatus, target: PaymentStatus, stamp: str
    ) -> builtins.list[PaymentDetailsDto]:
        now: datetime = utcnow()
        changed = await self._session.scalars(
            update(Payment)
            .where(Payment.order_id == order_id, Payment.status == source.value)
            .values({"status": target.value, "updated_at": now, stamp: now})
            .returning(Payment)
            # the rows come back from RETURNING: nothing in the session to synchronise (SQLAlchemy's default
            # would evaluate the criteria against every object it holds, a few % of an expiry's worker CPU)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return _details_list(changed.all())
