"""A store test's unit of work, as the API and the activities run one: each action in a transaction of its own."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.errors import DomainError

Sessions = async_sessionmaker[AsyncSession]
Store = TypeVar("Store")
T = TypeVar("T")


async def in_transaction(
    sessionmaker: Sessions, store: Callable[[AsyncSession], Store], action: Callable[[Store], Awaitable[T]]
) -> T:
    """Run `action` on the store in one transaction, committed when it returns."""
    async with sessionmaker.begin() as session:
        return await action(store(session))


async def refused_in_transaction(
    sessionmaker: Sessions, store: Callable[[AsyncSession], Store], action: Callable[[Store], Awaitable[object]]
) -> DomainError:
    """The domain error that refuses `action` (its transaction rolls back)."""
    with pytest.raises(DomainError) as caught:
        await in_transaction(sessionmaker, store, action)
    return caught.value
