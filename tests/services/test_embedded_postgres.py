"""The embedded server used by `make run` and the drills survives a restart and still stops cleanly."""

import asyncio
import tempfile
from pathlib import Path

import asyncpg
import psutil

from stack import postgres


async def test_restart_keeps_data_and_stop_stops_the_new_server() -> None:
    with tempfile.TemporaryDirectory(prefix="orderflow-pg-restart-") as root:
        server = await asyncio.to_thread(postgres.start, Path(root) / "data", keep_data=True)
        try:
            conn = await asyncpg.connect(server.dsn())
            await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
            await conn.close()

            await asyncio.to_thread(server.restart)
            new_pid = int((Path(root) / "data" / "postmaster.pid").read_text().splitlines()[0])
            assert server.server.get_pid() == new_pid  # the handle follows the new postmaster

            conn = await asyncpg.connect(server.dsn())
            assert await conn.fetchval("SELECT n FROM kept") == 42
            await conn.close()
        finally:
            await asyncio.to_thread(server.stop)
        assert new_pid is not None and not running(new_pid)


def running(pid: int) -> bool:
    """A stopped server may linger as a zombie where nothing reaps orphans (e.g. PID 1 in a container)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
