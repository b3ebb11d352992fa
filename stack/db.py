"""Engine and sessionmaker factories. One engine per process; one session per unit of work."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it cost two extra round trips (BEGIN; ROLLBACK) on every checkout. Disconnects are handled
    # optimistically instead: the first statement on a dead connection fails (an activity retries, the API answers
    # 503), and SQLAlchemy then discards every pooled connection older than the failure.
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=pool_size)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def autocommit(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in autocommit: no BEGIN and COMMIT around its statements (two round trips fewer), each statement
    its own transaction.

    For a unit of work that is one statement (atomic by itself), or whose statements need neither a common
    snapshot nor to stand or fall together. Never commit it: there is nothing to commit.
    """
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


def reading(sessionmaker: async_sessionmaker[AsyncSession]) -> AbstractAsyncContextManager[AsyncSession]:
    """A session for reads, in autocommit: no BEGIN and ROLLBACK around them, each statement its own snapshot.

    For a unit of work whose reads need no common snapshot (one statement, or rows that never change together).
    """
    return autocommit(sessionmaker)
