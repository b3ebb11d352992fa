"""Demo stock for the demo catalog, loaded when inventory has no warehouse."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import Warehouse
from services.inventory.store import InventoryStore

DEMO_WAREHOUSE_CODE = "MAIN"
DEMO_WAREHOUSE_NAME = "Main warehouse"
DEMO_LOCATION_CODE = "A-01"
DEMO_QUANTITY = 100
# The SKUs of the demo catalog (contract section 2.5 and ARM-BLK of section 13), listed here because
# inventory never imports catalog.
DEMO_SKUS = (
    "WH-BLK",
    "WH-WHT",
    "KEY-US-BLK",
    "KEY-EU-GRY",
    "DOCK-8IN1",
    "PMON-156-FHD",
    "PMON-156-4K",
    "BAG-20L-BLK",
    "BAG-25L-GRY",
    "NOTE-A5",
    "NOTE-A4",
    "ARM-BLK",
)


async def load_demo_data(session: AsyncSession) -> bool:
    """Receive demo stock if no warehouse exists; returns whether anything was inserted."""
    if await session.scalar(select(Warehouse.id).limit(1)) is not None:
        return False
    store = InventoryStore(session)
    warehouse = await store.create_warehouse(DEMO_WAREHOUSE_CODE, DEMO_WAREHOUSE_NAME)
    location = await store.create_location(warehouse.id, DEMO_LOCATION_CODE)
    for sku in DEMO_SKUS:
        await store.receive(sku, warehouse.id, location.id, DEMO_QUANTITY, "Demo stock")
    return True
