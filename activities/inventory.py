"""Inventory activities: reserve stock for an order, release it, commit it when the order ships."""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.errors import refusals_as_application_errors
from contracts.activities import InventorySteps
from contracts.order import AllocateStock, ReleaseByKeys, Reservations
from services.inventory.schemas import AllocationLine
from services.inventory.store import InventoryStore


class InventoryActivities(InventorySteps):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def allocate(self, request: AllocateStock) -> list[UUID]:
        """Reserve every line in one transaction, all or nothing; idempotent by each line's key."""
        lines = [
            AllocationLine(
                sku=line.sku,
                quantity=line.quantity,
                reference=request.reference,
                idempotency_key=line.idempotency_key,
            )
            for line in request.lines
        ]
        with refusals_as_application_errors():
            async with self.sessionmaker.begin() as session:
                reservations = await InventoryStore(session).allocate_many(lines)
        return [reservation.id for reservation in reservations]

    async def release_by_keys(self, request: ReleaseByKeys) -> None:
        """Release the active reservations made with these keys; keys without one (or released) are skipped."""
        with refusals_as_application_errors():
            async with self.sessionmaker.begin() as session:
                await InventoryStore(session).release_by_keys(request.idempotency_keys)

    async def commit(self, request: Reservations) -> None:
        """Consume reserved stock (on-hand decreases); already committed ones are left as they are."""
        with refusals_as_application_errors():
            async with self.sessionmaker.begin() as session:
                await InventoryStore(session).commit_many(request.reservation_ids)
