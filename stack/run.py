"""`make run`: the whole system on one machine, on embedded defaults.

0. secrets: the operator token (.data/operator-token, unless OPERATOR_TOKENS is set) and APP_SECRET
   (.data/app-secret, unless set), generated once (mode 0600) and passed to the worker and the API;
1. embedded PostgreSQL under .data/postgres (unless DATABASE_URL is set);
2. alembic migrations;
3. Temporal dev server persisted in .data/temporal.db, Web UI on :8233 (unless TEMPORAL_ADDRESS is set),
   with the custom search attributes registered;
4. the worker and the API (uvicorn) as child processes, their logs prefixed and streamed;
5. Ctrl-C (or SIGTERM) stops every child, then Temporal, then PostgreSQL. `.data/` is kept.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from stack import migrate, postgres, temporal
from stack.secrets import secret_file
from stack.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
DATABASE = "orderflow"
UI_PORT = 8233
STOP_TIMEOUT = 15.0


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


async def _pump(name: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
        sys.stdout.flush()


async def _spawn(name: str, *args: str, env: dict[str, str]) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # we stop children ourselves, in order, on Ctrl-C
    )
    assert proc.stdout is not None
    return proc, asyncio.create_task(_pump(name, proc.stdout))


async def _stop(name: str, proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    say(f"stopping {name}")
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def prepare_secrets(settings: Settings, env: dict[str, str], data: Path) -> list[str]:
    """Fill in the secrets that are not configured from files under `data`; what to tell the user, line by line.

    The generated values go into `env` (the children's environment) and `settings`; they are printed only when
    they came from a file, never when the deployer configured them.
    """
    notes = []
    if settings.app_secret is None:
        env["APP_SECRET"] = secret_file(data / "app-secret")
        settings.app_secret = SecretStr(env["APP_SECRET"])
    if settings.auth_mode == "open":
        notes.append(
            "WARNING: AUTH_MODE=open: every route, the operator routes included, answers anyone without "
            "credentials (for the seed's own scripts only; never expose this API)"
        )
    elif not settings.operator_tokens:
        token = env["OPERATOR_TOKENS"] = secret_file(data / "operator-token")
        settings.operator_tokens = [token]
        notes.append(f"Operator token: {token}   (in {data.name}/operator-token; send Authorization: Bearer <token>)")
    else:
        notes.append("Operator tokens: from OPERATOR_TOKENS (send Authorization: Bearer <token>)")
    return notes


def _start_temporal_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    say(
        f"starting Temporal dev server on {settings.temporal_address} (data: .data/temporal.db, "
        "log: .data/temporal.log)"
    )
    return temporal.start_dev_server(
        port=port, ui_port=UI_PORT, db_file=DATA / "temporal.db", log_file=DATA / "temporal.log"
    )


async def main() -> int:
    started = time.monotonic()
    settings = Settings()
    env = dict(os.environ)
    notes = prepare_secrets(settings, env, DATA)
    pg: postgres.EmbeddedPostgres | None = None
    dev_server: subprocess.Popen[bytes] | None = None
    children: list[tuple[str, asyncio.subprocess.Process]] = []
    pumps: list[asyncio.Task[None]] = []
    try:
        if not settings.database_url:
            say("starting embedded PostgreSQL (data: .data/postgres)")
            pg = postgres.start(DATA / "postgres")
            await postgres.create_database(pg.dsn(), DATABASE)
            settings.database_url = env["DATABASE_URL"] = pg.url(DATABASE)
        say("applying migrations")
        await asyncio.to_thread(migrate.upgrade, settings.database_url)

        if "TEMPORAL_ADDRESS" not in os.environ:
            dev_server = _start_temporal_dev_server(settings)
        client = await temporal.wait_until_reachable(settings)
        added = await temporal.ensure_search_attributes(client)
        if added:
            say(f"registered search attributes: {', '.join(added)}")

        for name, args in (
            ("worker", [sys.executable, "worker.py"]),
            ("api", [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                     "--host", settings.api_host, "--port", str(settings.api_port)]),
        ):  # fmt: skip
            proc, pump = await _spawn(name, *args, env=env)
            children.append((name, proc))
            pumps.append(pump)

        api = f"http://{settings.api_host}:{settings.api_port}"
        web = f"http://localhost:{UI_PORT}" if dev_server else f"the Web UI of {settings.temporal_address}"
        say(f"started in {time.monotonic() - started:.1f}s")
        say(f"API:           {api}   (OpenAPI docs: {api}/docs, health: {api}/health)")
        say(f"Temporal Web:  {web}")
        for note in notes:
            say(note)
        say("press Ctrl-C to stop")

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        waits = [asyncio.create_task(proc.wait()) for _, proc in children]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
        crashed = [name for name, proc in children if proc.returncode is not None]
        if crashed:
            say(f"{', '.join(crashed)} exited; stopping everything")
        for task in [*waits, stopper]:
            task.cancel()
        return 1 if crashed else 0
    finally:
        for name, proc in reversed(children):
            await _stop(name, proc)
        for pump in pumps:
            pump.cancel()
        if dev_server is not None:
            say("stopping Temporal dev server")
            dev_server.terminate()
            try:
                dev_server.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                dev_server.kill()
        if pg is not None:
            say("stopping PostgreSQL")
            pg.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
