"""Catalog activities: trusted product snapshots for a new order."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from contracts.activities import CatalogSteps
from contracts.order import LoadSnapshots, VariantSnapshot
from services.catalog.store import CatalogStore
from stack.db import reading


class CatalogActivities(CatalogSteps):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def load_snapshots(self, request: LoadSnapshots) -> list[VariantSnapshot]:
        """One snapshot per requested variant, in request order; fails on the first unknown or inactive one."""
        async with reading(self.sessionmaker) as session:
            found = await CatalogStore(session).get_variant_snapshots(request.variant_ids)
        snapshots: list[VariantSnapshot] = []
        for variant_id in request.variant_ids:
            snapshot = found.get(variant_id)
            if snapshot is None:
                raise ApplicationError(
                    f"Product variant {variant_id} is not available in the catalog",
                    type="catalog_variant_snapshot_not_found",
                    non_retryable=True,
                )
            if snapshot.price_amount_minor < 0:
                raise ApplicationError("Unit price is invalid", type="unit_price_invalid", non_retryable=True)
            if len(snapshot.currency.strip()) != 3:
                raise ApplicationError("Currency is invalid", type="currency_invalid", non_retryable=True)
            snapshots.append(
                VariantSnapshot(
                    product_id=snapshot.product_id,
                    product_variant_id=snapshot.product_variant_id,
                    sku=snapshot.sku.upper(),
                    product_name=snapshot.product_name.strip(),
                    variant_name=snapshot.variant_name.strip(),
                    price_amount_minor=snapshot.price_amount_minor,
                    currency=snapshot.currency.strip().upper(),
                )
            )
        return snapshots
