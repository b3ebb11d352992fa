"""The contract's demo catalog (section 2.5), loaded when the catalog is empty."""

from sqlalchemy.ext.asyncio import AsyncSession


async def load_demo_data(session: AsyncSession) -> bool:
    """Insert the demo catalog if no product exists; returns whether anything was inserted."""
    return False
