"""The stack under measurement: the shared launcher (tooling/processes.py) with fresh secrets, an in-memory Temporal
dev server and the floor's worker (`python -m bench.floor`) beside the order worker and the API; and what the
measurements account for, CPU seconds and memory per process.

The API runs as deployed: operator auth on (AUTH_MODE=token) with a generated operator token and APP_SECRET, so
every request of the benchmark carries `Authorization: Bearer <token>`. Everything is stopped when the context
exits, also on Ctrl-C.
"""

import asyncio
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from temporalio.client import Client

from bench.floor import StepMode, task_queue
from bench.report import FLOOR_WORKER
from stack.codec import PayloadKey
from stack.secrets import new_secret
from stack.settings import Settings
from stack.supervisor import STOP_TIMEOUT
from tooling import processes

RSS_SAMPLED = ("worker", "api", FLOOR_WORKER, "temporal")
# The payment timeout of every order a run leaves open, the project's and the floor's: longer than any run, so no
# order expires unasked while a later phase measures or checks the invariants.
PAYMENT_TIMEOUT_SECONDS = 2 * 60 * 60

Say = Callable[[str], None]


@dataclass
class Stack:
    """What the measurements talk to, and the processes whose resources they account for."""

    procs: processes.Stack
    floor_queue: str  # the floor worker's base task queue; one per step mode (bench.floor.task_queue)
    final_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of a killed process, read just before

    @property
    def client(self) -> Client:
        return self.procs.temporal_client

    @property
    def settings(self) -> Settings:
        """The API's and the order workers' (their task queue, their secrets)."""
        return self.procs.settings()

    def floor_settings(self, mode: StepMode) -> Settings:
        """The same, with the floor's task queue of `mode`: what the floor's runs are started with."""
        return self.settings.model_copy(update={"temporal_task_queue": task_queue(self.floor_queue, mode)})

    @property
    def pids(self) -> dict[str, int]:
        """worker, api, the floor worker, temporal, postgres (the postmaster), more workers."""
        pids = {name: child.pid for name, child in self.procs.children.items() if child.starts}
        assert self.procs.dev_server is not None
        return {**pids, "temporal": self.procs.dev_server.pid, "postgres": self.procs.postmaster_pid}

    @property
    def workers(self) -> list[str]:
        """The order workers alive now."""
        return [name for name, child in self.procs.children.items() if name.startswith("worker") and child.alive]

    async def start_worker(self) -> str:
        """Another order worker process on the same task queue; returns its name once it polls."""
        return (await self.procs.add_worker()).name

    def kill_worker(self, name: str) -> None:
        """SIGKILL an order worker: no graceful shutdown, its cached runs and running activities are lost."""
        self.final_cpu[name] = _tree_cpu_seconds(self.pids[name])
        self.procs.children[name].kill()

    def rss(self, name: str) -> int | None:
        """Resident memory of one process now, in bytes."""
        try:
            return int(psutil.Process(self.pids[name]).memory_info().rss)
        except psutil.Error:
            return None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack (with its children), the harness, and the rest."""
        seconds = {name: self.final_cpu.get(name) or _tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        own = psutil.Process().cpu_times()  # the harness alone: its descendants are the stack itself
        seconds["harness"] = own.user + own.system
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + getattr(machine, "irq", 0.0)
        busy += getattr(machine, "softirq", 0.0) + getattr(machine, "steal", 0.0)
        seconds["other"] = busy - sum(seconds.values())  # everything else on the machine (other test runs)
        return seconds

    @contextmanager
    def cpu_used(self) -> Iterator[dict[str, float]]:
        """CPU seconds each process used while the block ran (`cpu_seconds`' difference), filled in at its end."""
        used: dict[str, float] = {}
        before = self.cpu_seconds()
        try:
            yield used
        finally:
            used.update({name: round(s - before.get(name, 0.0), 3) for name, s in self.cpu_seconds().items()})

    def peak_rss(self) -> dict[str, int]:
        """Peak resident memory in bytes of each long-lived process: the kernel's high-water mark (VmHWM)."""
        peaks = {name: _vm_hwm(self.pids[name]) for name in RSS_SAMPLED}
        return {name: peak for name, peak in peaks.items() if peak is not None}


def _tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its reaped children and its living descendants (postgres backends, for instance)."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total: float = times.user + times.system + times.children_user + times.children_system
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


@contextmanager
def profiled(stack: Stack, names: tuple[str, ...], out_dir: Path, say: Say) -> Iterator[None]:
    """py-spy flame graphs (`latest-flame-<name>.svg` in `out_dir`) of the named processes while the block runs.

    py-spy samples without pausing the process (--nonblocking), so the profile costs the stack little.
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"latest-flame-{name}.svg" for name in names}
    recorders = [
        subprocess.Popen(
            [spy, "record", "--nonblocking", "--pid", str(stack.pids[name]), "--output", str(paths[name]),
             "--format", "flamegraph"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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


@asynccontextmanager
async def running_stack(work_dir: Path, say: Say, *, max_cached_workflows: int | None = None) -> AsyncIterator[Stack]:
    """Start everything under `work_dir`; stop it all (children, Temporal, PostgreSQL) on the way out.

    `max_cached_workflows` overrides the workers' cache size (MAX_CACHED_WORKFLOWS); None: the project's.
    """
    say("starting embedded PostgreSQL, an in-memory Temporal dev server, the worker and the API")
    procs = await processes.start_stack(
        work_dir, app_secret=new_secret(), payload_keys=str(PayloadKey.generate("bench")), operator_token=new_secret(),
        payment_timeout_seconds=PAYMENT_TIMEOUT_SECONDS, database="orderflow_bench", persist_temporal=False,
        # the hostile-load phase's clients are told apart by the X-Forwarded-For the bench sends, as a proxy's
        extra_env={"TRUSTED_PROXIES": processes.HOST}
        | ({} if max_cached_workflows is None else {"MAX_CACHED_WORKFLOWS": str(max_cached_workflows)}),
    )  # fmt: skip
    try:
        stack = Stack(procs, floor_queue=f"bench-floor-{uuid.uuid4().hex[:8]}")
        say("starting the floor's worker")
        env = dict(procs.env(), TEMPORAL_TASK_QUEUE=stack.floor_queue, WORKER_METRICS_PORT="0")
        procs.spawn(FLOOR_WORKER, [sys.executable, "-m", "bench.floor"], env)
        for mode in StepMode:
            await procs.wait_polling(task_queue(stack.floor_queue, mode))
        yield stack
        procs.check_alive()
    finally:
        await asyncio.to_thread(procs.close)
