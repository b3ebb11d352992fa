"""Activities: thin adapters from workflow steps to the stores, one unit of work each, idempotent by key.

Each class implements one interface of `contracts.activities`, which names its activities and types them.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.catalog import CatalogActivities
from activities.fulfillment import FulfillmentActivities
from activities.inventory import InventoryActivities
from activities.ordering import OrderingActivities
from activities.payment import PaymentActivities
from contracts.activities import ActivityContract, bound_activities

# One implementation per interface of contracts.activities.ACTIVITY_CONTRACTS (tests/workflows/test_activity_contracts)
IMPLEMENTATIONS: tuple[Callable[[async_sessionmaker[AsyncSession]], ActivityContract], ...] = (
    CatalogActivities,
    InventoryActivities,
    OrderingActivities,
    PaymentActivities,
    FulfillmentActivities,
)


def build_activities(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Callable[..., Any]]:
    """Every activity the order worker registers, bound to their dependencies."""
    return [step for implementation in IMPLEMENTATIONS for step in bound_activities(implementation(sessionmaker))]
