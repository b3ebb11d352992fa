"""Keys and carts expire safely (issue 22, item 3): the maintenance workflow prunes in bounded batches on real
PostgreSQL, and the Schedule that starts it is created once and brought to the settings at every worker start."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import ScheduleActionStartWorkflow, ScheduleIntervalSpec
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from contracts.maintenance import Maintenance
from services.cart.models import Cart, CartItem
from services.cart.schemas import AddCartItemRequest
from services.cart.store import CartStore
from services.ordering.idempotency import IdempotencyStore
from services.ordering.models import IdempotencyKey
from stack.maintenance import SCHEDULE_ID, ensure_maintenance_schedule
from stack.settings import Settings
from worker import create_worker
from workflows.maintenance import MaintenanceWorkflow


async def _key(sessionmaker: async_sessionmaker[AsyncSession], age: timedelta) -> bytes:
    digest = uuid.uuid4().bytes * 2
    async with sessionmaker.begin() as session:
        await IdempotencyStore(session).claim("POST /api/orders/{id}/cancel", digest, digest)
        await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key_digest == digest).values(created_at=datetime.now(UTC) - age)
        )
    return digest


async def _cart(sessionmaker: async_sessionmaker[AsyncSession], age: timedelta) -> uuid.UUID:
    async with sessionmaker.begin() as session:
        store = CartStore(session)
        cart = await store.create()
        await store.add_item(cart.id, AddCartItemRequest(product_variant_id=uuid.uuid4(), quantity=1))
        await session.execute(update(Cart).where(Cart.id == cart.id).values(updated_at=datetime.now(UTC) - age))
    return cart.id


async def test_maintenance_prunes_old_keys_and_carts_in_batches_and_nothing_else(
    dev_env: WorkflowEnvironment, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    old_keys = [await _key(sessionmaker, timedelta(hours=25)) for _ in range(5)]
    fresh_keys = [await _key(sessionmaker, timedelta(hours=23)) for _ in range(2)]
    old_carts = [await _cart(sessionmaker, timedelta(days=31)) for _ in range(3)]
    fresh_cart = await _cart(sessionmaker, timedelta(days=29))
    task_queue = f"maintenance-{uuid.uuid4()}"
    maintenance = Maintenance(idempotency_key_ttl_hours=24, cart_ttl_days=30, batch_size=2)

    async with create_worker(dev_env.client, settings, sessionmaker, task_queue=task_queue):
        first = await dev_env.client.execute_workflow(
            MaintenanceWorkflow.run, maintenance, id=f"maintenance-{uuid.uuid4()}", task_queue=task_queue
        )
        again = await dev_env.client.execute_workflow(
            MaintenanceWorkflow.run, maintenance, id=f"maintenance-{uuid.uuid4()}", task_queue=task_queue
        )

    assert first == {"idempotency_keys": 5, "carts": 3}
    assert again == {"idempotency_keys": 0, "carts": 0}
    async with sessionmaker() as session:
        digests = set(await session.scalars(select(IdempotencyKey.key_digest)))
        carts = set(await session.scalars(select(Cart.id)))
        lines = set(await session.scalars(select(CartItem.cart_id)))
    assert set(fresh_keys) <= digests and not set(old_keys) & digests
    assert fresh_cart in carts and not set(old_carts) & carts
    assert fresh_cart in lines and not set(old_carts) & lines  # a pruned cart's lines go with it


async def test_the_schedule_is_created_once_and_follows_the_settings(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = dev_env.client
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        await ensure_maintenance_schedule(client, settings)
        await ensure_maintenance_schedule(client, settings)  # another worker, or a restart: no error, one Schedule
        changed = settings.model_copy(update={"maintenance_interval_seconds": 600, "cart_ttl_days": 7})
        await ensure_maintenance_schedule(client, changed)

        schedule = (await handle.describe()).schedule
        assert schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(seconds=600))]
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "MaintenanceWorkflow"
        assert action.task_queue == settings.temporal_task_queue
        sent = await client.data_converter.decode(list(action.args), [Maintenance])
        assert sent == [Maintenance(idempotency_key_ttl_hours=24, cart_ttl_days=7)]

        await ensure_maintenance_schedule(client, settings.model_copy(update={"maintenance_interval_seconds": 0}))
        with pytest.raises(RPCError):
            await handle.describe()
        await ensure_maintenance_schedule(client, settings.model_copy(update={"maintenance_interval_seconds": 0}))
    finally:
        try:
            await handle.delete()
        except RPCError:
            pass
