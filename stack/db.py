"""Engine and sessionmaker factories. One engine per process; one session per unit of work."""

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it cost two extra round trips (BEGIN; ROLLBACK) on every checkout. Disconnects are handled
    # optimistically instead: the first statement on a dead connection fails (an activity retries, the API answers
    # 503), and SQLAlchemy then discards every pooled connection older than the failure.
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=pool_size)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
