"""Every activity runs at least once: each one, run twice with the same input, changes nothing the second time.

Real stores on a real PostgreSQL; the ledger and rows are compared after the first and the second run.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.catalog import CatalogActivities
from activities.fulfillment import FulfillmentActivities
from activities.inventory import InventoryActivities
from activities.ordering import OrderingActivities
from activities.payment import PaymentActivities
from contracts.order import (
    AllocateStock,
    CapturePayment,
    IntentHint,
    LoadSnapshots,
    OrderRef,
    OrderStatus,
    ReconcileIntents,
    RecordStatus,
    ReleaseByKeys,
    Reservations,
    SecurePayment,
    ShipShipment,
    StockLine,
    SucceedPayment,
)
from services.catalog.demo import MONITOR_ARM_VARIANT
from services.demo import load_demo_data
from services.fulfillment.schemas import CreateShipmentRequest
from services.fulfillment.store import FulfillmentStore
from services.ordering.store import OrderingStore
from services.payment.ledger import VOIDED_NOT_PAYABLE, intent_key
from services.payment.schemas import STRIPE, CreatePaymentRequest, PaymentDetailsDto
from services.payment.store import PaymentStore
from tests.fake_provider import FakeProvider
from tests.orders import pending_order
from tooling.stock_invariants import assert_stock_invariants

ARM_BLK = MONITOR_ARM_VARIANT  # the demo catalog's "Monitor Arm / Black", SKU ARM-BLK

SNAPSHOT_OF_EVERYTHING = """
SELECT
  (SELECT count(*) FROM inventory.stock_movements),
  (SELECT count(*) FROM inventory.stock_reservations),
  (SELECT coalesce(sum(reserved), 0) FROM inventory.stock_items),
  (SELECT coalesce(sum(on_hand), 0) FROM inventory.stock_items),
  (SELECT count(*) FROM ordering.orders),
  (SELECT string_agg(status || updated_at::text, ',' ORDER BY id) FROM ordering.orders),
  (SELECT string_agg(status || updated_at::text || authorized_minor || captured_minor || refunded_minor, ','
   ORDER BY id) FROM payment.payments),
  (SELECT string_agg(status || updated_at::text, ',' ORDER BY id) FROM fulfillment.shipments)
"""


@pytest.fixture
async def demo(sessionmaker: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    await load_demo_data(sessionmaker)
    return sessionmaker


async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[Any, ...]:
    async with sessionmaker() as session:
        return tuple((await session.execute(text(SNAPSHOT_OF_EVERYTHING))).one())


async def twice(sessionmaker: async_sessionmaker[AsyncSession], activity: object, arg: object) -> tuple[object, object]:
    """Run the activity twice; assert the second run changed nothing; return both results."""
    env = ActivityEnvironment()
    first = await env.run(activity, arg)  # type: ignore[arg-type]
    after_first = await world(sessionmaker)
    second = await env.run(activity, arg)  # type: ignore[arg-type]
    assert await world(sessionmaker) == after_first
    async with sessionmaker() as session:
        await assert_stock_invariants(session)
    return first, second


async def test_load_snapshots_twice_reads_the_same(demo: async_sessionmaker[AsyncSession]) -> None:
    first, second = await twice(demo, CatalogActivities(demo).load_snapshots, LoadSnapshots(variant_ids=[ARM_BLK]))
    assert first == second
    assert [s.sku for s in first] == ["ARM-BLK"]  # type: ignore[attr-defined]


async def test_allocate_twice_reserves_once(demo: async_sessionmaker[AsyncSession]) -> None:
    request = AllocateStock(
        reference="ORDER-1",
        lines=[StockLine(sku="ARM-BLK", quantity=2, idempotency_key=f"k-{uuid.uuid4()}-{n}") for n in range(2)],
    )
    before = await world(demo)
    first, second = await twice(demo, InventoryActivities(demo).allocate, request)
    assert first == second
    after = await world(demo)
    assert after[2] == before[2] + 4  # reserved: the two lines, once


async def test_release_and_commit_twice_move_stock_once(demo: async_sessionmaker[AsyncSession]) -> None:
    inventory = InventoryActivities(demo)
    env = ActivityEnvironment()
    lines = [StockLine(sku="ARM-BLK", quantity=1, idempotency_key=f"k-{uuid.uuid4()}-{n}") for n in range(2)]
    to_release, to_commit = await env.run(inventory.allocate, AllocateStock(reference="ORDER-2", lines=lines))

    await twice(demo, inventory.release_by_keys, ReleaseByKeys(idempotency_keys=[lines[0].idempotency_key]))
    await twice(demo, inventory.commit, Reservations(reservation_ids=[to_commit]))

    with pytest.raises(ApplicationError) as refused:  # a domain refusal is final, not retried
        await env.run(inventory.commit, Reservations(reservation_ids=[to_release]))
    assert refused.value.type == "reservation_not_active" and refused.value.non_retryable


async def test_release_by_keys_twice_releases_once(demo: async_sessionmaker[AsyncSession]) -> None:
    inventory = InventoryActivities(demo)
    keys = [f"k-{uuid.uuid4()}-{n}" for n in range(3)]
    lines = [StockLine(sku="ARM-BLK", quantity=1, idempotency_key=key) for key in keys[:2]]
    before = await world(demo)
    await ActivityEnvironment().run(inventory.allocate, AllocateStock(reference="ORDER-3", lines=lines))

    # the caller never learnt the reservation ids (its answer was lost); the third key never got a reservation
    await twice(demo, inventory.release_by_keys, ReleaseByKeys(idempotency_keys=keys))

    after = await world(demo)
    assert after[2] == before[2]  # reserved: back where it was
    async with demo() as session:
        statuses = await session.scalars(
            text("SELECT status FROM inventory.stock_reservations WHERE idempotency_key = ANY(:keys)"), {"keys": keys}
        )
        assert sorted(statuses) == ["Released", "Released"]


async def test_record_order_and_status_twice_store_once(demo: async_sessionmaker[AsyncSession]) -> None:
    ordering = OrderingActivities(demo)
    order = pending_order(variant_id=ARM_BLK)
    await twice(demo, ordering.record_order, order)
    await twice(
        demo, ordering.record_status, RecordStatus(order_id=order.id, status=OrderStatus.PAID, at=datetime.now(UTC))
    )
    async with demo() as session:
        assert await session.scalar(select(func.count()).select_from(text("ordering.order_items"))) == 1


async def test_void_twice_cancels_a_recorded_pending_order_once(demo: async_sessionmaker[AsyncSession]) -> None:
    ordering = OrderingActivities(demo)
    order = pending_order(variant_id=ARM_BLK)
    await ordering.record_order(order)
    await twice(demo, ordering.void, OrderRef(order_id=order.id))
    await twice(demo, ordering.void, OrderRef(order_id=uuid.uuid4()))  # never recorded: nothing to do
    async with demo() as session:
        assert await session.scalar(text("SELECT status FROM ordering.orders WHERE id = :id"), {"id": order.id}) == (
            "Cancelled"
        )


async def test_payment_activities_twice(demo: async_sessionmaker[AsyncSession]) -> None:
    order_id = uuid.uuid4()
    async with demo.begin() as session:
        store = PaymentStore(session)
        paid = await store.create(
            CreatePaymentRequest(order_id=order_id, amount_minor=6900, currency="USD", provider="Manual")
        )
        pending = await store.create(
            CreatePaymentRequest(order_id=order_id, amount_minor=6900, currency="USD", provider="Manual")
        )
    payment = PaymentActivities(demo, FakeProvider(), timedelta(days=7))
    await twice(demo, payment.mark_succeeded, SucceedPayment(payment_id=paid.id, provider_reference="R"))
    cancelled, none = await twice(demo, payment.cancel_pending, OrderRef(order_id=order_id))
    refunded, none_again = await twice(demo, payment.refund, OrderRef(order_id=order_id))
    assert (cancelled, none, refunded, none_again) == (1, 0, 1, 0)
    async with demo() as session:
        store = PaymentStore(session)
        assert (await store.get(paid.id)).status == "Refunded"  # type: ignore[union-attr]
        assert (await store.get(pending.id)).status == "Cancelled"  # type: ignore[union-attr]


async def test_provider_payment_activities_twice(demo: async_sessionmaker[AsyncSession]) -> None:
    """Secure, capture, refund after capture, void of another authorization, reconcile: each once at the provider."""
    provider = FakeProvider()
    payment = PaymentActivities(demo, provider, timedelta(days=7))
    order = pending_order(unit_price=6900)
    async with demo.begin() as session:
        await OrderingStore(session).record(order)
    paid = await _stripe_payment(demo, provider, order.id, 6900, attempt=0)
    other = await _stripe_payment(demo, provider, order.id, 6900, attempt=1)
    provider.confirm(paid.provider_id or "")
    provider.confirm(other.provider_id or "")

    hints, same_hints = await twice(demo, payment.reconcile, ReconcileIntents())
    assert (
        hints
        == same_hints
        == [
            IntentHint(order_id=order.id, payment_id=paid.id),
            IntentHint(order_id=order.id, payment_id=other.id),
        ]
    )
    secure = SecurePayment(payment_id=paid.id, amount_minor=6900, currency="USD", payable=True)
    secured, again = await twice(demo, payment.secure, secure)
    assert secured.secured and again.secured  # type: ignore[attr-defined]
    extra = SecurePayment(payment_id=other.id, amount_minor=6900, currency="USD", payable=False)  # order is Paid
    voided, void_again = await twice(demo, payment.secure, extra)
    assert not voided.secured and not void_again.secured  # type: ignore[attr-defined]
    captured, none = await twice(demo, payment.capture, CapturePayment(order_id=order.id, amount_minor=6900))
    assert (captured, none) == (1, 0)
    refunded, none_again = await twice(demo, payment.refund, OrderRef(order_id=order.id))
    assert (refunded, none_again) == (1, 0)

    assert provider.moves == [
        ("cancel", other.provider_id, 0),
        ("capture", paid.provider_id, 6900),
        ("refund", paid.provider_id, 6900),
    ]
    async with demo() as session:
        rows = {p.id: p for p in await PaymentStore(session).list_for_order(order.id)}
    assert (rows[paid.id].status, rows[paid.id].captured_minor, rows[paid.id].refunded_minor) == (
        "Refunded",
        6900,
        6900,
    )
    assert rows[other.id].status == "Cancelled" and rows[other.id].authorized_minor == 6900
    assert rows[other.id].failure_reason == VOIDED_NOT_PAYABLE


async def test_the_intents_of_a_closed_order_are_voided_by_the_reconciliation(
    demo: async_sessionmaker[AsyncSession],
) -> None:
    provider = FakeProvider()
    payment = PaymentActivities(demo, provider, timedelta(days=7))
    order = pending_order(unit_price=6900)
    async with demo.begin() as session:
        await OrderingStore(session).record(order)
        await OrderingStore(session).record_status(order.id, OrderStatus.EXPIRED, datetime.now(UTC))
    late = await _stripe_payment(demo, provider, order.id, 6900, attempt=0)
    provider.confirm(late.provider_id or "")
    abandoned = await _stripe_payment(demo, provider, order.id, 6900, attempt=1)  # never confirmed

    hints, none = await twice(demo, payment.reconcile, ReconcileIntents())

    assert hints == none == []
    assert sorted(provider.moves) == sorted([("cancel", late.provider_id, 0), ("cancel", abandoned.provider_id, 0)])
    async with demo() as session:
        store = PaymentStore(session)
        assert (await store.get(late.id)).status == "Cancelled"  # type: ignore[union-attr]
        assert (await store.get(abandoned.id)).status == "Cancelled"  # type: ignore[union-attr]
        assert await store.open_intents(10) == []  # nothing left to re-read


async def _stripe_payment(
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: FakeProvider,
    order_id: uuid.UUID,
    amount: int,
    attempt: int,
) -> PaymentDetailsDto:
    intent = await provider.create_intent(
        order_id=order_id, amount_minor=amount, currency="USD", idempotency_key=intent_key(order_id, attempt)
    )
    async with sessionmaker.begin() as session:
        return await PaymentStore(session).create(
            CreatePaymentRequest(order_id=order_id, amount_minor=amount, currency="USD", provider=STRIPE),
            provider_id=intent.id,
        )


async def test_fulfillment_activities_twice(demo: async_sessionmaker[AsyncSession]) -> None:
    order_id = uuid.uuid4()
    async with demo.begin() as session:
        store = FulfillmentStore(session)
        shipped = await store.create(CreateShipmentRequest(order_id=order_id))
        pending = await store.create(CreateShipmentRequest(order_id=order_id))
    fulfillment = FulfillmentActivities(demo)
    await twice(demo, fulfillment.mark_shipped, ShipShipment(shipment_id=shipped.id, carrier="DHL"))
    cancelled, none = await twice(demo, fulfillment.cancel_pending, OrderRef(order_id=order_id))
    assert (cancelled, none) == (1, 0)
    async with demo() as session:
        assert (await FulfillmentStore(session).get(pending.id)).status == "Cancelled"  # type: ignore[union-attr]


async def test_record_order_refuses_a_total_beyond_bigint_for_good(demo: async_sessionmaker[AsyncSession]) -> None:
    """A refusal must be non-retryable: retried forever, it would stall the placement with the stock held."""
    huge = pending_order(unit_price=2**62, quantity=3, variant_id=ARM_BLK)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(OrderingActivities(demo).record_order, huge)
    assert refused.value.type == "order_total_too_large" and refused.value.non_retryable
