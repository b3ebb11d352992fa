"""The payment store against a real PostgreSQL: creation rules, every transition and refusal, idempotent
repeats, and conflicting transitions racing on one payment."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy.exc import IntegrityError

from services.errors import DomainError
from services.payment.errors import PaymentNotFoundError, PaymentNotPendingError
from services.payment.schemas import (
    CreatePaymentRequest,
    PaymentDetailsDto,
    PaymentListItemDto,
    PaymentStatus,
)
from services.payment.store import PaymentStore
from services.schemas import ZERO_UUID
from tests.stores import Sessions, in_transaction, refused_in_transaction


def _request(**overrides: Any) -> CreatePaymentRequest:
    fields: dict[str, Any] = {"order_id": uuid4(), "amount_minor": 6900, "currency": "USD", "provider": "Manual"}
    fields.update(overrides)
    return CreatePaymentRequest(**fields)


async def _create(sessionmaker: Sessions, **overrides: Any) -> PaymentDetailsDto:
    async with sessionmaker.begin() as session:
        return await PaymentStore(session).create(_request(**overrides))


async def _get(sessionmaker: Sessions, payment_id: UUID) -> PaymentDetailsDto:
    async with sessionmaker() as session:
        payment = await PaymentStore(session).get(payment_id)
    assert payment is not None
    return payment


async def _run(sessionmaker: Sessions, action: Callable[[PaymentStore], Awaitable[Any]]) -> Any:
    return await in_transaction(sessionmaker, PaymentStore, action)


async def _refused(sessionmaker: Sessions, action: Callable[[PaymentStore], Awaitable[Any]]) -> DomainError:
    return await refused_in_transaction(sessionmaker, PaymentStore, action)


# --- create -------------------------------------------------------------------------------------------


async def test_create_records_a_pending_payment_even_for_an_unknown_order(sessionmaker: Sessions) -> None:
    order_id = UUID("00000000-0000-0000-0000-000000000001")  # the Payment .http "failed flow" id
    payment = await _create(sessionmaker, order_id=order_id, currency=" us1 ", provider="  Manual ")

    assert payment.order_id == order_id
    assert payment.status == PaymentStatus.PENDING
    assert (payment.amount_minor, payment.currency, payment.provider) == (6900, "US1", "Manual")
    assert payment.provider_reference is None and payment.failure_reason is None
    assert payment.created_at == payment.updated_at
    assert (payment.succeeded_at, payment.failed_at, payment.cancelled_at, payment.refunded_at) == (None,) * 4
    assert await _get(sessionmaker, payment.id) == payment


async def test_a_currency_that_upper_cases_to_more_letters_stays_three_letters(sessionmaker: Sessions) -> None:
    # str.upper() turns "ß" into "SS": a 4-letter currency the 3-character column refused with a 500
    payment = await _create(sessionmaker, currency="ßab")
    assert (await _get(sessionmaker, payment.id)).currency == "ßAB"


async def test_the_largest_int64_amount_is_accepted(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker, amount_minor=2**63 - 1)
    assert (await _get(sessionmaker, payment.id)).amount_minor == 2**63 - 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"order_id": ZERO_UUID}, "order_id_required"),
        ({"order_id": ZERO_UUID, "amount_minor": 0, "currency": None, "provider": None}, "order_id_required"),
        ({"amount_minor": 0}, "amount_invalid"),
        ({"amount_minor": -1}, "amount_invalid"),
        ({"amount_minor": 2**63}, "amount_invalid"),
        ({"amount_minor": 0, "currency": "X", "provider": ""}, "amount_invalid"),
        ({"currency": None}, "currency_invalid"),
        ({"currency": "   "}, "currency_invalid"),
        ({"currency": "US"}, "currency_invalid"),
        ({"currency": "USDX"}, "currency_invalid"),
        ({"currency": "US", "provider": None}, "currency_invalid"),
        ({"provider": None}, "provider_required"),
        ({"provider": "   "}, "provider_required"),
        ({"provider": "p" * 101}, "provider_too_long"),
    ],
)
async def test_create_refusals_in_the_order_the_checks_run(
    sessionmaker: Sessions, overrides: dict[str, Any], code: str
) -> None:
    error = await _refused(sessionmaker, lambda store: store.create(_request(**overrides)))
    assert (error.code, error.status_code) == (code, 400)
    assert (await _run(sessionmaker, lambda store: store.list())).items == []


# --- reads --------------------------------------------------------------------------------------------


async def test_reads_list_newest_first_and_per_order_oldest_first(sessionmaker: Sessions) -> None:
    order_id = uuid4()
    first = await _create(sessionmaker, order_id=order_id)
    other = await _create(sessionmaker)
    second = await _create(sessionmaker, order_id=order_id)

    listed = (await _run(sessionmaker, lambda store: store.list())).items
    assert [p.id for p in listed] == [second.id, other.id, first.id]
    assert listed[0].model_dump() == {
        key: value for key, value in second.model_dump().items() if key in PaymentListItemDto.model_fields
    }
    assert await _run(sessionmaker, lambda store: store.list_for_order(order_id)) == [first, second]
    assert await _run(sessionmaker, lambda store: store.list_for_order(uuid4())) == []
    assert await _run(sessionmaker, lambda store: store.get(uuid4())) is None


async def test_require_pending(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker)
    assert await _run(sessionmaker, lambda store: store.require_pending(payment.id)) == payment

    unknown = await _refused(sessionmaker, lambda store: store.require_pending(uuid4()))
    assert isinstance(unknown, PaymentNotFoundError) and unknown.status_code == 400

    await _run(sessionmaker, lambda store: store.mark_failed(payment.id, None))
    not_pending = await _refused(sessionmaker, lambda store: store.require_pending(payment.id))
    assert isinstance(not_pending, PaymentNotPendingError)


# --- succeed / fail -----------------------------------------------------------------------------------


async def test_succeed_sets_the_reference_and_a_strict_repeat_is_refused(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker)
    succeeded = await _run(sessionmaker, lambda store: store.mark_succeeded(payment.id, "  FRONTEND-1 "))

    assert succeeded.status == PaymentStatus.SUCCEEDED
    assert succeeded.provider_reference == "FRONTEND-1"
    assert succeeded.succeeded_at is not None and succeeded.updated_at == succeeded.succeeded_at
    assert succeeded.failed_at is None
    assert await _get(sessionmaker, payment.id) == succeeded

    again = await _refused(sessionmaker, lambda store: store.mark_succeeded(payment.id, "other"))
    assert (again.code, again.status_code) == ("payment_not_pending", 400)
    failing = await _refused(sessionmaker, lambda store: store.mark_failed(payment.id, None))
    assert failing.code == "payment_not_pending"
    assert await _get(sessionmaker, payment.id) == succeeded


async def test_succeed_twice_with_repeat_ok_changes_nothing(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker)
    first = await _run(sessionmaker, lambda store: store.mark_succeeded(payment.id, "REF", repeat_ok=True))
    second = await _run(sessionmaker, lambda store: store.mark_succeeded(payment.id, "NEW", repeat_ok=True))
    assert second == first == await _get(sessionmaker, payment.id)
    assert second.provider_reference == "REF"


async def test_fail_sets_the_reason_and_a_strict_repeat_is_refused(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker)
    failed = await _run(sessionmaker, lambda store: store.mark_failed(payment.id, " card declined "))

    assert failed.status == PaymentStatus.FAILED
    assert failed.failure_reason == "card declined"
    assert failed.failed_at is not None and failed.succeeded_at is None
    assert await _get(sessionmaker, payment.id) == failed

    for action in (
        lambda store: store.mark_failed(payment.id, None),
        lambda store: store.mark_succeeded(payment.id, None),
        lambda store: store.mark_succeeded(payment.id, None, repeat_ok=True),
    ):
        assert (await _refused(sessionmaker, action)).code == "payment_not_pending"
    assert await _get(sessionmaker, payment.id) == failed


async def test_fail_twice_with_repeat_ok_changes_nothing(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker)
    first = await _run(sessionmaker, lambda store: store.mark_failed(payment.id, "declined", repeat_ok=True))
    second = await _run(sessionmaker, lambda store: store.mark_failed(payment.id, "other", repeat_ok=True))
    assert second == first == await _get(sessionmaker, payment.id)


async def test_blank_reference_and_reason_are_stored_as_null(sessionmaker: Sessions) -> None:
    a, b = await _create(sessionmaker), await _create(sessionmaker)
    assert (await _run(sessionmaker, lambda s: s.mark_succeeded(a.id, "   "))).provider_reference is None
    assert (await _run(sessionmaker, lambda s: s.mark_failed(b.id, ""))).failure_reason is None


@pytest.mark.parametrize("repeat_ok", [False, True])
async def test_transitions_of_an_unknown_payment_are_payment_not_found_400(
    sessionmaker: Sessions, repeat_ok: bool
) -> None:
    for action in (
        lambda store: store.mark_succeeded(uuid4(), None, repeat_ok=repeat_ok),
        lambda store: store.mark_failed(uuid4(), None, repeat_ok=repeat_ok),
    ):
        error = await _refused(sessionmaker, action)
        assert (error.code, error.status_code) == ("payment_not_found", 400)


async def test_over_long_reference_and_reason_are_refused(sessionmaker: Sessions) -> None:
    payment = await _create(sessionmaker)
    too_long_ref = await _refused(sessionmaker, lambda s: s.mark_succeeded(payment.id, "r" * 201))
    assert too_long_ref.code == "provider_reference_too_long"
    too_long_reason = await _refused(sessionmaker, lambda s: s.mark_failed(payment.id, "r" * 1001))
    assert too_long_reason.code == "failure_reason_too_long"
    assert (await _get(sessionmaker, payment.id)).status == PaymentStatus.PENDING
    ok = await _run(sessionmaker, lambda s: s.mark_succeeded(payment.id, "r" * 200))
    assert ok.provider_reference == "r" * 200


# --- bulk per order -----------------------------------------------------------------------------------


async def test_cancel_pending_for_order_cancels_only_its_pending_payments_once(sessionmaker: Sessions) -> None:
    order_id = uuid4()
    pending = [await _create(sessionmaker, order_id=order_id) for _ in range(2)]
    failed = await _create(sessionmaker, order_id=order_id)
    await _run(sessionmaker, lambda s: s.mark_failed(failed.id, "declined"))
    succeeded = await _create(sessionmaker, order_id=order_id)
    await _run(sessionmaker, lambda s: s.mark_succeeded(succeeded.id, "REF"))
    elsewhere = await _create(sessionmaker)

    cancelled = await _run(sessionmaker, lambda s: s.cancel_pending_for_order(order_id))
    assert [p.id for p in cancelled] == [p.id for p in pending]
    assert {p.status for p in cancelled} == {PaymentStatus.CANCELLED}
    assert all(p.cancelled_at is not None and p.updated_at == p.cancelled_at for p in cancelled)

    rows = await _run(sessionmaker, lambda s: s.list_for_order(order_id))
    assert [p.status for p in rows] == ["Cancelled", "Cancelled", "Failed", "Succeeded"]
    assert (await _get(sessionmaker, elsewhere.id)).status == PaymentStatus.PENDING

    assert await _run(sessionmaker, lambda s: s.cancel_pending_for_order(order_id)) == []
    assert await _run(sessionmaker, lambda s: s.list_for_order(order_id)) == rows

    for action in (lambda s: s.mark_succeeded(pending[0].id, None), lambda s: s.mark_failed(pending[0].id, None)):
        assert (await _refused(sessionmaker, action)).code == "payment_not_pending"


async def test_refund_succeeded_for_order_refunds_only_its_succeeded_payments_once(
    sessionmaker: Sessions,
) -> None:
    order_id = uuid4()
    paid = await _create(sessionmaker, order_id=order_id)
    await _run(sessionmaker, lambda s: s.mark_succeeded(paid.id, "REF"))
    still_pending = await _create(sessionmaker, order_id=order_id)
    other_paid = await _create(sessionmaker)
    await _run(sessionmaker, lambda s: s.mark_succeeded(other_paid.id, None))

    refunded = await _run(sessionmaker, lambda s: s.refund_succeeded_for_order(order_id))
    assert [(p.id, p.status) for p in refunded] == [(paid.id, PaymentStatus.REFUNDED)]
    assert refunded[0].refunded_at is not None
    assert refunded[0].provider_reference == "REF" and refunded[0].succeeded_at is not None
    assert await _get(sessionmaker, paid.id) == refunded[0]
    assert (await _get(sessionmaker, still_pending.id)).status == PaymentStatus.PENDING
    assert (await _get(sessionmaker, other_paid.id)).status == PaymentStatus.SUCCEEDED

    rows = await _run(sessionmaker, lambda s: s.list_for_order(order_id))
    assert await _run(sessionmaker, lambda s: s.refund_succeeded_for_order(order_id)) == []
    assert await _run(sessionmaker, lambda s: s.list_for_order(order_id)) == rows

    repeat = await _refused(sessionmaker, lambda s: s.mark_succeeded(paid.id, None, repeat_ok=True))
    assert repeat.code == "payment_not_pending"


async def test_bulk_operations_on_an_order_without_payments_change_nothing(sessionmaker: Sessions) -> None:
    assert await _run(sessionmaker, lambda s: s.cancel_pending_for_order(uuid4())) == []
    assert await _run(sessionmaker, lambda s: s.refund_succeeded_for_order(uuid4())) == []


# --- concurrency --------------------------------------------------------------------------------------


async def _outcome(sessionmaker: Sessions, action: Callable[[PaymentStore], Awaitable[Any]]) -> str:
    try:
        await _run(sessionmaker, action)
    except PaymentNotPendingError:
        return "refused"
    return "won"


async def _race_succeed_and_fail(sessionmaker: Sessions, payment_id: UUID) -> None:
    succeed, fail = await asyncio.gather(
        _outcome(sessionmaker, lambda s: s.mark_succeeded(payment_id, "REF")),
        _outcome(sessionmaker, lambda s: s.mark_failed(payment_id, "declined")),
    )
    assert sorted([succeed, fail]) == ["refused", "won"]
    final = await _get(sessionmaker, payment_id)
    assert final.status == (PaymentStatus.SUCCEEDED if succeed == "won" else PaymentStatus.FAILED)
    assert (final.succeeded_at is None) != (final.failed_at is None)


async def test_concurrent_succeed_and_fail_on_one_payment_exactly_one_wins(sessionmaker: Sessions) -> None:
    payments = [await _create(sessionmaker) for _ in range(5)]
    await asyncio.gather(*(_race_succeed_and_fail(sessionmaker, p.id) for p in payments))


async def _race_succeed_and_cancel(sessionmaker: Sessions, payment: PaymentDetailsDto) -> None:
    succeed, cancelled = await asyncio.gather(
        _outcome(sessionmaker, lambda s: s.mark_succeeded(payment.id, None)),
        _run(sessionmaker, lambda s: s.cancel_pending_for_order(payment.order_id)),
    )
    final = await _get(sessionmaker, payment.id)
    if succeed == "won":
        assert cancelled == [] and final.status == PaymentStatus.SUCCEEDED
    else:
        assert [p.id for p in cancelled] == [payment.id] and final.status == PaymentStatus.CANCELLED


async def test_concurrent_succeed_and_cancel_for_order_never_both_apply(sessionmaker: Sessions) -> None:
    payments = [await _create(sessionmaker) for _ in range(5)]
    await asyncio.gather(*(_race_succeed_and_cancel(sessionmaker, p) for p in payments))


async def _intent_payment(sessionmaker: Sessions, provider_id: str, **overrides: Any) -> PaymentDetailsDto:
    async with sessionmaker.begin() as session:
        return await PaymentStore(session).create(_request(provider="Stripe", **overrides), provider_id=provider_id)


async def test_one_payment_row_per_payment_intent(sessionmaker: Sessions) -> None:
    first = await _intent_payment(sessionmaker, "pi_one")
    with pytest.raises(IntegrityError):
        await _intent_payment(sessionmaker, "pi_one", order_id=first.order_id)
    found = await _run(sessionmaker, lambda store: store.get_by_provider_id("pi_one"))
    assert found == first
    assert await _run(sessionmaker, lambda store: store.get_by_provider_id("pi_other")) is None


async def test_open_intents_are_pending_or_authorized_and_not_captured(sessionmaker: Sessions) -> None:
    pending = await _intent_payment(sessionmaker, "pi_pending")
    authorized = await _intent_payment(sessionmaker, "pi_authorized")
    captured = await _intent_payment(sessionmaker, "pi_captured")
    voided = await _intent_payment(sessionmaker, "pi_voided")
    await _create(sessionmaker)  # a manual payment: no intent to re-read
    await _run(sessionmaker, lambda store: store.mark_succeeded(authorized.id, "pi_authorized"))
    await _run(sessionmaker, lambda store: store.mark_succeeded(captured.id, "pi_captured"))
    taken = {"authorized": 6900, "captured": 6900, "refunded": 0}
    await _run(sessionmaker, lambda store: store.record_amounts(captured.id, **taken))
    assert (await _run(sessionmaker, lambda store: store.cancel(voided.id, "voided: test"))).status == "Cancelled"
    assert await _run(sessionmaker, lambda store: store.cancel(voided.id, "voided: again")) is None  # a repeat

    open_intents = await _run(sessionmaker, lambda store: store.open_intents(10))

    assert {p.id for p in open_intents} == {pending.id, authorized.id}
    assert (await _get(sessionmaker, voided.id)).failure_reason == "voided: test"


async def test_recording_the_same_amounts_again_writes_nothing(sessionmaker: Sessions) -> None:
    payment = await _intent_payment(sessionmaker, "pi_amounts")
    await _run(sessionmaker, lambda store: store.record_amounts(payment.id, authorized=6900, captured=0, refunded=0))
    recorded = await _get(sessionmaker, payment.id)
    await _run(sessionmaker, lambda store: store.record_amounts(payment.id, authorized=6900, captured=0, refunded=0))
    assert await _get(sessionmaker, payment.id) == recorded  # updated_at included
    assert (recorded.authorized_minor, recorded.captured_minor, recorded.refunded_minor) == (6900, 0, 0)


async def test_a_webhook_event_is_processed_once(sessionmaker: Sessions) -> None:
    first = await _run(sessionmaker, lambda store: store.record_webhook_event("evt_1", "payment_intent.succeeded"))
    again = await _run(sessionmaker, lambda store: store.record_webhook_event("evt_1", "payment_intent.succeeded"))
    other = await _run(sessionmaker, lambda store: store.record_webhook_event("evt_2", "charge.refunded"))
    assert (first, again, other) == (True, False, True)
