"""Activities: thin adapters from workflow steps to the stores, one unit of work each, idempotent by key.

Each class implements one interface of `contracts.activities`, which names its activities and types them.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.catalog import CatalogActivities
from activities.fulfillment import FulfillmentActivities
from activities.inventory import InventoryActivities
from activities.ordering import OrderingActivities
from activities.payment import PaymentActivities
from contracts.activities import ActivityContract, bound_activities
from services.payment.provider import PaymentProvider

# One implementation per interface of contracts.activities.ACTIVITY_CONTRACTS (tests/workflows/test_activity_contracts)
IMPLEMENTATIONS: tuple[type[ActivityContract], ...] = (
    CatalogActivities,
    InventoryActivities,
    OrderingActivities,
    PaymentActivities,
    FulfillmentActivities,
)


def build_activities(
    sessionmaker: async_sessionmaker[AsyncSession], provider: PaymentProvider | None, authorization_valid: timedelta
) -> list[Callable[..., Any]]:
    """Every activity the order worker registers, bound to their dependencies (`provider` None: manual payments
    only; a provider payment's step fails, and is retried, until the worker is configured)."""
    implementations: list[ActivityContract] = [
        CatalogActivities(sessionmaker),
        InventoryActivities(sessionmaker),
        OrderingActivities(sessionmaker),
        PaymentActivities(sessionmaker, provider, authorization_valid),
        FulfillmentActivities(sessionmaker),
    ]
    return [step for implementation in implementations for step in bound_activities(implementation)]
