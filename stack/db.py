"""Engine and sessionmaker factories. One engine per process; one session per unit of work."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it cost two extra round trips (BEGIN; ROLLBACK) on every checkout. Disconnects are handled
    # optimistically instead: the first statement on a dead connection fails (an activity retries, the API answers
    # 503), and SQLAlchemy then discards every pooled connection older than the failure.
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=pool_size)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def reading(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads, in autocommit: no BEGIN and ROLLBACK around them, each statement its own snapshot.

    For a unit of work whose reads need no common snapshot (one statement, or rows that never change together).
    """
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
