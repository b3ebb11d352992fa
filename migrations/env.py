"""Alembic environment: async engine, URL from Settings (DATABASE_URL) unless the caller passed one."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.models import ALL_METADATA
from stack.settings import Settings

config = context.config


def _url() -> str:
    return config.attributes.get("database_url") or Settings().require_database_url()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=ALL_METADATA,
        include_schemas=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=ALL_METADATA, include_schemas=True, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
