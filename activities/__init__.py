"""Activities: thin adapters from workflow steps to the stores, one unit of work each, idempotent by key."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.catalog import CatalogActivities
from activities.fulfillment import FulfillmentActivities
from activities.inventory import InventoryActivities
from activities.ordering import OrderingActivities
from activities.payment import PaymentActivities


def build_activities(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Callable[..., Any]]:
    """Every activity the order worker registers, bound to their dependencies."""
    catalog = CatalogActivities(sessionmaker)
    inventory = InventoryActivities(sessionmaker)
    ordering = OrderingActivities(sessionmaker)
    payment = PaymentActivities(sessionmaker)
    fulfillment = FulfillmentActivities(sessionmaker)
    return [
        catalog.load_snapshots,
        inventory.allocate,
        inventory.release,
        inventory.commit,
        ordering.record_order,
        ordering.record_status,
        ordering.void,
        payment.mark_succeeded,
        payment.cancel_pending,
        payment.refund,
        fulfillment.mark_shipped,
        fulfillment.cancel_pending,
    ]
