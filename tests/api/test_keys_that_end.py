"""Keys that cost nothing to strangers and never bring a finished order back (issue 22, items 3, 4 and 7), over
REST on real PostgreSQL, a real Temporal dev server and the worker of worker.py."""

import asyncio
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ordering.models import IdempotencyKey
from tests.demo import ARM_BLK
from tests.http import ok, place, refused


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _keys(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


async def test_keyed_actions_on_made_up_ids_store_no_claim(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A stranger's keyed cancels, payment settles and shipments on random ids leave the key table as it was."""
    api = stack_api
    before = await _keys(sessionmaker)

    async def cancel() -> None:
        refused(await api.post(f"/api/orders/{uuid.uuid4()}/cancel", headers=key()), 400, "order_not_found")

    for _ in range(5):
        await asyncio.gather(*(cancel() for _ in range(20)))
    missing_payment = await api.post(f"/api/payments/{uuid.uuid4()}/succeed", json={}, headers=key())
    missing_shipment = await api.post(f"/api/shipments/{uuid.uuid4()}/ship", json={}, headers=key())
    assert missing_payment.status_code in (400, 404) and missing_shipment.status_code in (400, 404)

    assert await _keys(sessionmaker) == before
    # a key whose order exists is kept: its retry is still recognised
    order = await place(api, (ARM_BLK, 1))
    cancel_key = key()
    for _ in range(2):
        assert ok(await api.post(f"/api/orders/{order['id']}/cancel", headers=cancel_key))["status"] == "Cancelled"
    assert await _keys(sessionmaker) == before + 1
