"""The alembic history applies to an empty database, and applying it again changes nothing."""

import asyncio

import asyncpg
from alembic.script import ScriptDirectory

from services.models import SCHEMAS
from stack import migrate, postgres

DATABASE = "migrations_twice"


async def _state(dsn: str) -> tuple[str, set[str], set[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        schemas = {r["schema_name"] for r in await conn.fetch("SELECT schema_name FROM information_schema.schemata")}
        tables = {
            f"{r['table_schema']}.{r['table_name']}"
            for r in await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables")
        }
        return version, schemas, tables
    finally:
        await conn.close()


async def test_migrations_apply_to_an_empty_database_and_again(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    await postgres.create_database(postgres_server.dsn(), DATABASE)
    try:
        await asyncio.to_thread(migrate.upgrade, postgres_server.url(DATABASE))
        first = await _state(postgres_server.dsn(DATABASE))
        await asyncio.to_thread(migrate.upgrade, postgres_server.url(DATABASE))
        second = await _state(postgres_server.dsn(DATABASE))
    finally:
        await postgres.drop_database(postgres_server.dsn(), DATABASE)

    assert first == second
    version, schemas, _ = first
    assert version == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert set(SCHEMAS) <= schemas
