"""The ordering store writes an order's status only as a transition, and records one placement per order id."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.order import ACTIONS, OrderStatus, reached_from
from services.ordering.errors import OrderAlreadyPlacedError, OrderNotFoundError, OrderStatusConflictError
from services.ordering.store import OrderingStore
from tests.orders import pending_order

_S = OrderStatus


def test_a_status_is_reached_only_from_where_an_action_leading_there_applies() -> None:
    assert reached_from(_S.PAID) == {_S.PENDING_PAYMENT}
    assert reached_from(_S.SHIPPED) == {_S.PAID}
    assert reached_from(_S.CANCELLED) == {_S.PENDING_PAYMENT, _S.PAID}
    assert reached_from(_S.EXPIRED) == {_S.PENDING_PAYMENT}
    assert reached_from(_S.PENDING_PAYMENT) == frozenset()  # only placing makes an order PendingPayment
    for spec in ACTIONS:
        assert spec.applies_from <= reached_from(spec.to)


async def _status(sessionmaker: async_sessionmaker[AsyncSession], order_id: uuid.UUID) -> OrderStatus | None:
    async with sessionmaker() as session:
        return await OrderingStore(session).status(order_id)


async def test_a_status_write_is_a_transition_never_an_overwrite(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    order = pending_order()
    at = datetime.now(UTC)
    async with sessionmaker.begin() as session:
        store = OrderingStore(session)
        await store.record(order)
        with pytest.raises(OrderStatusConflictError):
            await store.record_status(order.id, _S.SHIPPED, at)  # not paid yet
        assert await store.record_status(order.id, _S.PAID, at)
        assert not await store.record_status(order.id, _S.PAID, at)  # a repeat changes nothing
        assert await store.record_status(order.id, _S.SHIPPED, at)
    for late in (_S.CANCELLED, _S.EXPIRED, _S.PAID, _S.PENDING_PAYMENT):
        async with sessionmaker.begin() as session:
            with pytest.raises(OrderStatusConflictError) as refused:
                await OrderingStore(session).record_status(order.id, late, at)
        assert refused.value.code == "order_status_conflict"
    assert await _status(sessionmaker, order.id) is _S.SHIPPED
    async with sessionmaker.begin() as session:
        with pytest.raises(OrderNotFoundError):
            await OrderingStore(session).record_status(uuid.uuid4(), _S.PAID, at)


async def test_another_placement_under_a_recorded_orders_id_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    order = pending_order()
    again = order.model_copy(update={"items": [line.model_copy(update={"id": uuid.uuid4()}) for line in order.items]})
    async with sessionmaker.begin() as session:
        assert await OrderingStore(session).record(order)
        assert not await OrderingStore(session).record(order)  # the same placement: a repeat
    async with sessionmaker.begin() as session:
        with pytest.raises(OrderAlreadyPlacedError):
            await OrderingStore(session).record(again)
    async with sessionmaker() as session:
        stored = await OrderingStore(session).get(order.id)
    assert stored is not None and [line.id for line in stored.items] == [line.id for line in order.items]
