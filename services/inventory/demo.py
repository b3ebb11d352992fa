"""Demo stock for the demo catalog, loaded when inventory has no warehouse."""

from sqlalchemy.ext.asyncio import AsyncSession


async def load_demo_data(session: AsyncSession) -> bool:
    """Receive demo stock if no warehouse exists; returns whether anything was inserted."""
    return False
