"""Activities: thin adapters from workflow steps to the stores, one unit of work each."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stack.settings import Settings


def build_activities(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> list[Callable[..., Any]]:
    """Every activity the order worker registers, bound to their dependencies."""
    return []
