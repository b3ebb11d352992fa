"""Demo data for a new user, so an order can be placed right after `make run`."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.catalog import demo as catalog_demo
from services.inventory import demo as inventory_demo

_LOCK_KEY = 0x0D3E0  # one transaction-level advisory lock, so concurrent API processes seed once


async def load_demo_data(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker.begin() as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        await catalog_demo.load_demo_data(session)
        await inventory_demo.load_demo_data(session)
