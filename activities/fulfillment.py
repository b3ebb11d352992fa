"""Fulfillment activities: a shipment shipped, and the shipment side of cancelling an order."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.errors import refusals_as_application_errors
from contracts.activities import FulfillmentSteps
from contracts.order import OrderRef, ShipShipment
from services.fulfillment.store import FulfillmentStore
from stack.db import autocommit


class FulfillmentActivities(FulfillmentSteps):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def mark_shipped(self, request: ShipShipment) -> None:
        """Pending -> Shipped; a shipment that already shipped is left as it is.

        In autocommit (no BEGIN and COMMIT round trips): the usual case is one conditional UPDATE, atomic by itself.
        """
        with refusals_as_application_errors():
            async with autocommit(self.sessionmaker) as session:
                await FulfillmentStore(session).mark_shipped(
                    request.shipment_id, request.carrier, request.tracking_number, repeat_ok=True
                )

    async def cancel_pending(self, request: OrderRef) -> int:
        """Cancel the order's pending shipments; returns how many changed (0 on a repeat). One statement, in
        autocommit."""
        async with autocommit(self.sessionmaker) as session:
            return len(await FulfillmentStore(session).cancel_pending_for_order(request.order_id))
