"""Maintenance activities: one bounded batch of deletions per call, each its own unit of work."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.maintenance import MaintenanceSteps, PruneOlderThan
from services.cart.store import CartStore
from services.ordering.idempotency import IdempotencyStore


class MaintenanceActivities(MaintenanceSteps):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def prune_idempotency_keys(self, request: PruneOlderThan) -> int:
        async with self.sessionmaker.begin() as session:
            return await IdempotencyStore(session).prune(request.before, request.limit)

    async def prune_carts(self, request: PruneOlderThan) -> int:
        async with self.sessionmaker.begin() as session:
            return await CartStore(session).prune(request.before, request.limit)
