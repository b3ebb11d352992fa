"""The stack under test, brought up like `make run` but temporary and on loopback only.

Embedded PostgreSQL in a temporary directory, an in-memory Temporal dev server on free ports, and three
separate OS processes: the order worker (`python worker.py`), the API (uvicorn) and the baseline worker
(`python -m bench.baseline_worker`); more order workers can join the task queue during the run and be killed.
The API runs as deployed: operator auth on (AUTH_MODE=token) with a generated operator token and APP_SECRET, so
every request of the benchmark carries `Authorization: Bearer <token>`. Everything is stopped when the context
exits, also on Ctrl-C.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.baseline import PAYMENT_TIMEOUT_SECONDS
from stack import migrate, postgres, temporal
from stack.codec import PayloadKey
from stack.secrets import new_secret
from stack.settings import Settings
from stack.supervisor import STOP_TIMEOUT, stop_process

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "orderflow_bench"
HOST = "127.0.0.1"
READY_TIMEOUT = 90.0  # seconds for each server to come up (slow when the machine is busy with other tests)
SAMPLE_INTERVAL = 0.25  # seconds between RSS samples
RSS_SAMPLED = ("worker", "api", "baseline_worker", "temporal")

Say = Callable[[str], None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    """What the measurements talk to, and the processes whose resources they account for."""

    api_url: str
    client: Client
    settings: Settings  # the API's and the order workers' (their task queue, their secrets)
    task_queue: str
    baseline_task_queue: str
    log_dir: Path
    pids: dict[str, int]  # worker, api, baseline_worker, temporal, postgres (the postmaster), more workers
    database_url: str
    operator_token: str
    worker_env: dict[str, str]  # what `python worker.py` is started with; another worker gets its own metrics port
    metrics_ports: dict[str, int]  # per order worker: its Prometheus port (Temporal SDK metrics)
    extra_workers: list[Child] = field(default_factory=list)
    final_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of a killed process, read just before
    rss_samples: dict[str, int] = field(default_factory=dict)  # sampled peak RSS in bytes, per process

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}

    @property
    def workers(self) -> list[str]:
        """The order workers alive now."""
        return ["worker", *(child.name for child in self.extra_workers if child.proc.poll() is None)]

    async def start_worker(self) -> str:
        """Another order worker process on the same task queue; returns its name once it polls."""
        name = f"worker_{len(self.extra_workers) + 2}"
        port = free_port()
        child = _spawn(
            name, [sys.executable, "worker.py"], dict(self.worker_env, WORKER_METRICS_PORT=str(port)), self.log_dir
        )
        self.extra_workers.append(child)
        self.pids[name] = child.proc.pid
        self.metrics_ports[name] = port
        await _wait_for_pollers(self.client, self.task_queue, [child], at_least=len(self.workers))
        return name

    def kill_worker(self, name: str) -> None:
        """SIGKILL an extra order worker: no graceful shutdown, its cached runs and running activities are lost."""
        child = next(child for child in self.extra_workers if child.name == name)
        self.final_cpu[name] = _tree_cpu_seconds(child.proc.pid)
        child.proc.kill()
        child.proc.wait(STOP_TIMEOUT)

    def stop_extra_workers(self) -> list[subprocess.Popen[bytes]]:
        """Marks the extra workers stopped; returns their processes, for `_stop_all`."""
        for child in self.extra_workers:
            self.final_cpu.setdefault(child.name, 0.0)
        return [child.proc for child in self.extra_workers]

    def rss(self, name: str) -> int | None:
        """Resident memory of one process now, in bytes."""
        try:
            return int(psutil.Process(self.pids[name]).memory_info().rss)
        except psutil.Error:
            return None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack (with its children), the harness, and the rest."""
        seconds = {
            name: self.final_cpu[name] if name in self.final_cpu else _tree_cpu_seconds(pid)
            for name, pid in self.pids.items()
        }
        own = psutil.Process().cpu_times()  # the harness alone: its descendants are the stack itself
        seconds["harness"] = own.user + own.system
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + getattr(machine, "irq", 0.0)
        busy += getattr(machine, "softirq", 0.0) + getattr(machine, "steal", 0.0)
        seconds["other"] = busy - sum(seconds.values())  # everything else on the machine (other test runs)
        return seconds

    def peak_rss(self) -> dict[str, int]:
        """Peak resident memory in bytes: the kernel's high-water mark (VmHWM), or the sampled peak if larger."""
        peaks = dict(self.rss_samples)
        for name in RSS_SAMPLED:
            hwm = _vm_hwm(self.pids[name])
            if hwm is not None:
                peaks[name] = max(peaks.get(name, 0), hwm)
        return peaks

    def sample_rss(self) -> None:
        for name in RSS_SAMPLED:
            try:
                rss = psutil.Process(self.pids[name]).memory_info().rss
            except psutil.Error:
                continue
            self.rss_samples[name] = max(self.rss_samples.get(name, 0), rss)


def _tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its reaped children and its living descendants (postgres backends, for instance)."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.Error:
                continue
            total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return 0.0


def _vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        # Own session: a Ctrl-C on the terminal reaches only the harness, which stops the children in order.
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Child(name, proc, log)


@contextmanager
def profiled(stack: Stack, names: tuple[str, ...], out_dir: Path, say: Say, *, raw: bool = False) -> Iterator[None]:
    """py-spy flame graphs (`latest-flame-<name>.svg` in `out_dir`) of the named processes while the block runs;
    with `raw`, collapsed stacks instead (`latest-profile-<name>.txt`, one stack and its sample count a line).

    py-spy samples without pausing the process (--nonblocking), so the profile costs the stack little.
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / (f"latest-profile-{name}.txt" if raw else f"latest-flame-{name}.svg") for name in names}
    recorders = [
        subprocess.Popen(
            [spy, "record", "--nonblocking", "--pid", str(stack.pids[name]), "--output", str(paths[name]),
             "--format", "raw" if raw else "flamegraph"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in names
    ]  # fmt: skip
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for name, recorder in zip(names, recorders, strict=True):
            try:
                recorder.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait(STOP_TIMEOUT)
            say(f"profile of the {name}: {paths[name]}")


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class StackError(RuntimeError):
    pass


def _check_alive(children: list[Child]) -> None:
    for child in children:
        if child.proc.poll() is not None:
            raise StackError(
                f"{child.name} exited with code {child.proc.returncode}; last lines of {child.log}:\n"
                f"{log_tail(child.log)}"
            )


async def _wait_for_api(url: str, children: list[Child], operator_token: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    headers = {"Authorization": f"Bearer {operator_token}"}
    async with httpx.AsyncClient(base_url=url, timeout=5.0, headers=headers) as http:
        while True:
            _check_alive(children)
            try:
                if (await http.get("/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"the API did not become ready within {READY_TIMEOUT:.0f}s")
            await asyncio.sleep(0.2)


async def _wait_for_pollers(client: Client, task_queue: str, children: list[Child], at_least: int = 1) -> None:
    """Until `at_least` workers poll the task queue for workflow and for activity tasks."""
    deadline = time.monotonic() + READY_TIMEOUT
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    while True:
        _check_alive(children)
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
            raise StackError(f"{at_least} worker(s) did not poll task queue {task_queue!r} within {READY_TIMEOUT:.0f}s")
        await asyncio.sleep(0.2)


async def _sample_forever(stack: Stack) -> None:
    while True:
        stack.sample_rss()
        await asyncio.sleep(SAMPLE_INTERVAL)


@asynccontextmanager
async def running_stack(work_dir: Path, say: Say, *, max_cached_workflows: int | None = None) -> AsyncIterator[Stack]:
    """Start everything under `work_dir`; stop it all (children, Temporal, PostgreSQL) on the way out.

    `max_cached_workflows` overrides the order workers' cache size (MAX_CACHED_WORKFLOWS); None: the project's.
    """
    pg: postgres.EmbeddedPostgres | None = None
    dev_server: subprocess.Popen[bytes] | None = None
    children: list[Child] = []
    sampler: asyncio.Task[None] | None = None
    stack: Stack | None = None
    try:
        port, ui_port, api_port = free_port(), free_port(), free_port()
        # Temporal comes up while PostgreSQL is created and migrated: neither waits for the other.
        say(f"starting the in-memory Temporal dev server on {HOST}:{port}, and embedded PostgreSQL")
        dev_server = temporal.start_dev_server(port=port, ui_port=ui_port, log_file=work_dir / "temporal.log")
        pg = await asyncio.to_thread(postgres.start, work_dir / "postgres", keep_data=False)
        await postgres.create_database(pg.dsn(), DATABASE)
        database_url = pg.url(DATABASE)
        say("applying migrations")
        await asyncio.to_thread(migrate.upgrade, database_url)

        secrets = {"APP_SECRET": new_secret(), "PAYLOAD_KEYS": str(PayloadKey.generate("bench"))}
        settings = Settings(
            app_secret=secrets["APP_SECRET"],
            payload_keys=secrets["PAYLOAD_KEYS"],
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            temporal_address=f"{HOST}:{port}",
            temporal_task_queue=f"bench-orders-{uuid.uuid4().hex[:8]}",
            api_host=HOST,
            api_port=api_port,
            payment_timeout_seconds=PAYMENT_TIMEOUT_SECONDS,
        )
        client = await temporal.wait_until_reachable(settings, timeout=READY_TIMEOUT)
        await temporal.ensure_search_attributes(client)

        baseline_task_queue = f"bench-baseline-{uuid.uuid4().hex[:8]}"
        operator_token = new_secret()
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=settings.temporal_address,
            TEMPORAL_NAMESPACE=settings.temporal_namespace,
            TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
            API_HOST=HOST,
            API_PORT=str(api_port),
            SEED_DEMO_DATA="true",
            PAYMENT_TIMEOUT_SECONDS=str(settings.payment_timeout_seconds),
            **secrets,
            AUTH_MODE="token",
            OPERATOR_TOKENS=operator_token,
        )
        if max_cached_workflows is not None:
            env["MAX_CACHED_WORKFLOWS"] = str(max_cached_workflows)
        worker_metrics_port = free_port()
        say("starting the worker, the API and the baseline worker")
        children.append(
            _spawn(
                "worker",
                [sys.executable, "worker.py"],
                dict(env, WORKER_METRICS_PORT=str(worker_metrics_port)),
                work_dir,
            )
        )
        children.append(
            _spawn(
                "api",
                [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                 "--host", HOST, "--port", str(api_port)],
                env,
                work_dir,
            )
        )  # fmt: skip
        children.append(
            _spawn(
                "baseline_worker",
                [sys.executable, "-m", "bench.baseline_worker"],
                dict(env, TEMPORAL_TASK_QUEUE=baseline_task_queue, WORKER_METRICS_PORT="0"),
                work_dir,
            )
        )
        api_url = f"http://{HOST}:{api_port}"
        await _wait_for_api(api_url, children, operator_token)
        await _wait_for_pollers(client, settings.temporal_task_queue, children)
        await _wait_for_pollers(client, baseline_task_queue, children)

        postmaster = int((Path(pg.server.pgdata) / "postmaster.pid").read_text().split()[0])
        stack = Stack(
            api_url=api_url,
            client=client,
            settings=settings,
            task_queue=settings.temporal_task_queue,
            baseline_task_queue=baseline_task_queue,
            log_dir=work_dir,
            pids={
                **{child.name: child.proc.pid for child in children},
                "temporal": dev_server.pid,
                "postgres": postmaster,
            },
            database_url=database_url,
            operator_token=operator_token,
            worker_env=env,
            metrics_ports={"worker": worker_metrics_port},
        )
        sampler = asyncio.create_task(_sample_forever(stack))
        yield stack
        _check_alive(children)
    finally:
        if sampler is not None:
            sampler.cancel()
        # The workers and the API first (they still talk to Temporal and PostgreSQL while they shut down), then
        # Temporal and PostgreSQL; each group at once, as their shutdowns are mostly waiting.
        extra = stack.stop_extra_workers() if stack is not None else []
        _stop_all([*extra, *(child.proc for child in children)])
        if dev_server is not None or pg is not None:
            with ThreadPoolExecutor() as pool:
                stopping = [pool.submit(stop_process, dev_server)] if dev_server is not None else []
                if pg is not None:
                    pg.stop()
                for future in stopping:
                    future.result()


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process, then wait for each (SIGKILL after the usual timeout)."""
    with ThreadPoolExecutor() as pool:
        list(pool.map(stop_process, procs))  # list: an error of one stop is raised here
