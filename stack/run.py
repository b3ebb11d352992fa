"""`make run`: the whole system on one machine, on embedded defaults.

0. secrets: the operator token (.data/operator-token, unless OPERATOR_TOKENS is set), APP_SECRET
   (.data/app-secret, unless set) and the payload key (.data/payload-key, unless PAYLOAD_KEYS is set), generated
   once (mode 0600) and passed to the worker and the API;
   and, for the embedded provider, the webhook signing secret (.data/stripe-webhook-secret, unless
   STRIPE_WEBHOOK_SECRET is set);
1. embedded PostgreSQL under .data/postgres (unless DATABASE_URL is set);
2. alembic migrations;
3. Temporal dev server persisted in .data/temporal.db, Web UI on :8233 (unless TEMPORAL_ADDRESS is set),
   with the custom search attributes registered; payloads are encrypted with PAYLOAD_KEYS and the Web UI
   decodes them through the API's codec server (/codec), for an operator logged in to the console. The API,
   the console and the Web UI are named under one host name (`browser_host`): the console's session cookie
   and the same-site rule go by host name;
4. localstripe, the embedded payment provider, on LOCALSTRIPE_PORT with its state in .data/localstripe.pickle,
   sending its signed events to the API's /api/webhooks/stripe (unless STRIPE_API_KEY or STRIPE_API_BASE is set:
   then Stripe itself, or the Stripe-compatible server at that base);
5. the worker and the API (uvicorn) as child processes, their logs prefixed and streamed; a child that exits is
   restarted with backoff, and one that keeps exiting (a crash loop) stops `make run` with exit code 1;
   localstripe is a child too, restarted the same way (its state is on disk);
6. PostgreSQL and Temporal are watched: when one of them is down (its process exited, or it has not answered
   for a while), `make run` says so and stops with exit code 1, rather than leaving an API that answers 503;
7. Ctrl-C, SIGTERM or SIGHUP, at any moment from the first line on (start-up included), stops every child, then
   Temporal, then PostgreSQL, and exits 0; no process and no port is left behind. `.data/` is kept.

The supervising pieces are in stack/supervisor.py. `DATA_DIR` (default `.data`) moves the data elsewhere.
"""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from temporalio.client import Client

from services.payment.stripe_provider import LOCALSTRIPE_API_KEY
from stack import localstripe, migrate, postgres, temporal
from stack.codec import PayloadKey
from stack.secrets import secret_file
from stack.settings import Settings, settings_problems
from stack.supervisor import Child, Dependency, StopSignals, say, stop_process, supervise

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DATA_DIR") or ROOT / ".data").resolve()
DATABASE = "orderflow"
UI_PORT = 8233
LOCAL_PAYLOAD_KEY_ID = "local"


def _secret_from_file(
    env: dict[str, str], name: str, path: Path, value: Callable[[str], str] = lambda secret: secret, prefix: str = ""
) -> str:
    """`name`'s value made from the secret kept in `path` (generated once, 0600), put into the children's `env`."""
    env[name] = value(secret_file(path, prefix))
    return env[name]


def _local_payload_key(secret: str) -> str:
    return str(PayloadKey.from_secret(LOCAL_PAYLOAD_KEY_ID, secret))


def prepare_secrets(settings: Settings, env: dict[str, str], data: Path) -> list[str]:
    """Fill in the secrets that are not configured from files under `data`; what to tell the user, line by line.

    APP_SECRET, PAYLOAD_KEYS and OPERATOR_TOKENS each come from their setting when configured, else from a file
    under `data`. The generated values go into `env` (the children's environment) and `settings`; of the
    secrets, only an operator token that came from a file is printed, never one the deployer configured.
    """
    notes = []
    if settings.app_secret is None:
        settings.app_secret = SecretStr(_secret_from_file(env, "APP_SECRET", data / "app-secret"))
    if settings.payload_keys is None:
        keys = _secret_from_file(env, "PAYLOAD_KEYS", data / "payload-key", _local_payload_key)
        settings.payload_keys = SecretStr(keys)
        notes.append(
            f"Payload keys:  {data.name}/payload-key (key id {LOCAL_PAYLOAD_KEY_ID!r}; docs/security.md to rotate)"
        )
    else:
        notes.append("Payload keys:  from PAYLOAD_KEYS")
    if settings.auth_mode == "open":
        notes.append(
            "WARNING: AUTH_MODE=open: every route, the operator routes included, answers anyone without "
            "credentials (for the seed's own scripts only; never expose this API)"
        )
    elif not settings.operator_tokens:
        token = _secret_from_file(env, "OPERATOR_TOKENS", data / "operator-token")
        settings.operator_tokens = [token]
        notes.append(f"Operator token: {token}   (in {data.name}/operator-token; send Authorization: Bearer <token>)")
    else:
        notes.append("Operator tokens: from OPERATOR_TOKENS (send Authorization: Bearer <token>)")
    return notes


def prepare_provider(settings: Settings, env: dict[str, str], data: Path) -> tuple[list[str] | None, list[str]]:
    """How to start the embedded localstripe (None: a provider is configured), and what to tell the user.

    Neither STRIPE_API_KEY nor STRIPE_API_BASE set: localstripe on LOCALSTRIPE_PORT, its address and a placeholder
    key go into `env` for the worker and the API, and the webhook secret comes from STRIPE_WEBHOOK_SECRET or a
    file under `data`. Otherwise the configured provider is used as it is, and nothing is started.
    """
    if settings.stripe_api_key is not None or settings.stripe_api_base is not None:
        where = f"the Stripe-compatible server at {settings.stripe_api_base}" if settings.stripe_api_base else "Stripe"
        notes = [f"Payments:      {where} (docs/deploy.md, Payments)"]
        if settings.stripe_webhook_secret is None:
            notes.append(
                "WARNING: STRIPE_WEBHOOK_SECRET is unset: every webhook is refused (400), orders follow their "
                "payments through the shop's return and the reconciliation only"
            )
        return None, notes
    base = localstripe.base_url(settings.localstripe_port)
    settings.stripe_api_base = env["STRIPE_API_BASE"] = base
    settings.stripe_api_key = SecretStr(LOCALSTRIPE_API_KEY)
    env["STRIPE_API_KEY"] = LOCALSTRIPE_API_KEY
    if settings.stripe_webhook_secret is None:
        secret = _secret_from_file(env, "STRIPE_WEBHOOK_SECRET", data / "stripe-webhook-secret", prefix="whsec_")
        settings.stripe_webhook_secret = SecretStr(secret)
    webhook_url = f"http://{browser_host(settings.api_host)}:{settings.api_port}/api/webhooks/stripe"
    state = data / "localstripe.pickle"
    notes = [f"Payments:      localstripe at {base} (state: {data.name}/{state.name}; events to {webhook_url})"]
    return localstripe.command(settings.localstripe_port, state, webhook_url=webhook_url), notes


def browser_host(api_host: str) -> str:
    """The host name a browser uses for the API, the console and Temporal Web alike; a wildcard address is
    reached through loopback, where the dev server's Web UI listens."""
    return "127.0.0.1" if api_host in ("", "0.0.0.0", "::") else api_host


def _start_temporal_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    say(
        f"starting Temporal dev server on {settings.temporal_address} (data: {DATA / 'temporal.db'}, "
        f"log: {DATA / 'temporal.log'})"
    )
    return temporal.start_dev_server(
        port=port,
        ui_port=UI_PORT,
        db_file=DATA / "temporal.db",
        log_file=DATA / "temporal.log",
        codec_endpoint=f"http://{browser_host(settings.api_host)}:{settings.api_port}/codec",
    )


async def _probe_database(url: str) -> None:
    """One fresh connection and `SELECT 1`: a pooled connection could hide a server that is gone."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def _dependencies(
    settings: Settings, client: Client, pg: postgres.EmbeddedPostgres | None, dev_server: subprocess.Popen[bytes] | None
) -> list[Dependency]:
    """PostgreSQL and Temporal, probed; the servers `make run` started itself are also watched as processes."""
    url = settings.require_database_url()
    return [
        Dependency("PostgreSQL", lambda: _probe_database(url), alive=pg.running if pg is not None else None),
        Dependency(
            "Temporal",
            client.service_client.check_health,
            alive=(lambda: dev_server.poll() is None) if dev_server is not None else None,
        ),
    ]


async def main() -> int:
    signals = StopSignals()
    started = time.monotonic()
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in settings_problems(error):
            say(f"refusing to start: {problem}")
        return 2
    env = dict(os.environ)
    notes = prepare_secrets(settings, env, DATA)
    provider, provider_notes = prepare_provider(settings, env, DATA)
    notes += provider_notes
    pg: postgres.EmbeddedPostgres | None = None
    dev_server: subprocess.Popen[bytes] | None = None
    children: list[Child] = []
    try:
        if not settings.database_url:
            say(f"starting embedded PostgreSQL (data: {DATA / 'postgres'})")
            pg = postgres.start(DATA / "postgres")
            await postgres.create_database(pg.dsn(), DATABASE)
            settings.database_url = env["DATABASE_URL"] = pg.url(DATABASE)
        say("applying migrations")
        await asyncio.to_thread(migrate.upgrade, settings.database_url)

        host = browser_host(settings.api_host)
        if "TEMPORAL_ADDRESS" not in os.environ:
            dev_server = _start_temporal_dev_server(settings)
            if "temporal_ui_url" not in settings.model_fields_set:  # the console's links to runs
                settings.temporal_ui_url = env["TEMPORAL_UI_URL"] = f"http://{host}:{UI_PORT}"
        client = await temporal.wait_until_reachable(settings)
        added = await temporal.ensure_search_attributes(client)
        if added:
            say(f"registered search attributes: {', '.join(added)}")

        if provider is not None:
            say(f"starting localstripe on {settings.stripe_api_base} (data: {DATA / 'localstripe.pickle'})")
            payments = Child("localstripe", provider, env=env, cwd=ROOT)
            children.append(payments)
            await payments.start()
            await localstripe.wait_until_up(
                localstripe.base_url(settings.localstripe_port),
                alive=lambda: payments.proc is not None and payments.proc.returncode is None,
            )

        children += [
            Child("worker", [sys.executable, "worker.py"], env=env, cwd=ROOT),
            # API_PORT, and the seed's 5001-5006 with SEED_COMPAT_PORTS (stack/serve.py)
            Child("api", [sys.executable, "-m", "stack.serve"], env=env, cwd=ROOT),
        ]
        for child in children:
            if child.proc is None:
                await child.start()

        api = f"http://{host}:{settings.api_port}"
        web = settings.temporal_ui_url if dev_server else f"the Web UI of {settings.temporal_address}"
        say(f"started in {time.monotonic() - started:.1f}s")
        say(f"API:           {api}   (OpenAPI docs: {api}/docs, health: {api}/health)")
        say(f"Temporal Web:  {web}   (decodes runs for a console login; an order's console page says how)")
        say(f"Shop:          {api}/")
        say(f"Console:       {api}/ops")
        if settings.seed_compat_ports:
            say("the API also listens on the seed's ports 5001-5006 (SEED_COMPAT_PORTS)")
        for note in notes:
            say(note)
        say("press Ctrl-C to stop")

        signals.running()
        return await supervise(children, _dependencies(settings, client, pg, dev_server), signals.stop)
    except asyncio.CancelledError:
        if not signals.interrupted():
            raise
        return 0  # stopped on request during start-up: the `finally` below stops what had started
    finally:
        for child in reversed(children):
            await child.stop()
        if dev_server is not None and dev_server.poll() is None:
            say("stopping Temporal dev server")
            stop_process(dev_server)
        if pg is not None:
            say("stopping PostgreSQL")
            try:
                pg.stop()
            except Exception as error:  # noqa: BLE001 - it may be the server that died: nothing left to stop
                say(f"PostgreSQL did not stop cleanly: {error}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
