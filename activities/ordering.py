"""Ordering activities: the order workflow records the order and each transition it decides."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.errors import refusals_as_application_errors
from contracts.activities import OrderingSteps
from contracts.order import OrderDetails, OrderRef, RecordStatus
from contracts.wire import utcnow
from services.ordering.store import OrderingStore
from stack.db import autocommit


class OrderingActivities(OrderingSteps):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def record_order(self, order: OrderDetails) -> None:
        """Persist the placed order; idempotent by order id. A refusal (e.g. a total beyond BIGINT) is final.

        One statement, atomic by itself: run in autocommit, without BEGIN and COMMIT round trips.
        """
        with refusals_as_application_errors():
            async with autocommit(self.sessionmaker) as session:
                await OrderingStore(session).record(order)

    async def void(self, request: OrderRef) -> None:
        """Compensation of record_order: cancel the order if it was recorded; nothing to do if it was not."""
        async with self.sessionmaker.begin() as session:
            await OrderingStore(session).void(request.order_id, utcnow())

    async def record_status(self, request: RecordStatus) -> None:
        """Persist a status change; recording the same status again is a no-op.

        In autocommit: the change is one statement, and the check that follows a no-op needs no common snapshot.
        """
        with refusals_as_application_errors():
            async with autocommit(self.sessionmaker) as session:
                await OrderingStore(session).record_status(request.order_id, request.status, request.at)
