"""The real `python -m stack.run` (what `make run` runs): a SIGKILLed worker comes back, a dead PostgreSQL stops it.

It runs its own embedded PostgreSQL under a temporary DATA_DIR and uses the session's Temporal dev server.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import APP_SECRET
from tooling.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 180.0  # upper bounds for waiting on a busy machine, never assertions about speed
EXIT_TIMEOUT = 120.0
DEMO_VARIANT = "9572fb9d-f059-401e-9041-7fc75f8cb414"  # "Monitor Arm / Black", loaded with SEED_DEMO_DATA

pytestmark = pytest.mark.e2e


@dataclass
class MakeRun:
    proc: subprocess.Popen[bytes]
    log: Path
    data: Path
    api: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = STARTUP_TIMEOUT) -> list[re.Match[str]]:
        """The first `count` matches of `pattern` in the output, once there are that many."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = list(re.finditer(pattern, self.output(), re.MULTILINE))
            if len(found) >= count:
                return found[:count]
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"never printed {pattern!r} ({count}x); output:\n{self.output()[-6000:]}")

    def pids(self, name: str, count: int) -> list[int]:
        return [int(m.group(1)) for m in self.wait_for(rf"^\[run\] {name} started \(pid (\d+)\)$", count=count)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child that exited but was not reaped yet is a zombie: gone for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.fixture
def make_run(dev_env: WorkflowEnvironment) -> Iterator[MakeRun]:
    yield from _make_run(dev_env.client.service_client.config.target_host)


@pytest.fixture
def make_run_without_temporal() -> Iterator[MakeRun]:
    """`make run` against a Temporal that never answers: it stays in start-up, with PostgreSQL started."""
    yield from _make_run(f"127.0.0.1:{free_port()}")


def _make_run(temporal_address: str) -> Iterator[MakeRun]:
    # Not under pytest's tmp_path: see tooling/processes.py (embedded PostgreSQL and /tmp/pytest-of-<user>).
    data = Path(tempfile.mkdtemp(prefix="orderflow-make-run-"))
    api_port = free_port()
    # the embedded defaults: its own PostgreSQL and its own localstripe (on a free port)
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL" and not key.startswith("STRIPE_")}
    env.update(
        DATA_DIR=str(data),
        APP_SECRET=APP_SECRET,  # make run generates PAYLOAD_KEYS itself; APP_SECRET only once `security` lands
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_TASK_QUEUE=f"make-run-{uuid.uuid4().hex[:8]}",
        API_HOST="127.0.0.1",
        API_PORT=str(api_port),
        WORKER_METRICS_PORT="0",
        LOCALSTRIPE_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    log = data / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stack.run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    run = MakeRun(proc, log, data, f"http://127.0.0.1:{api_port}")
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # as Ctrl-C: it stops its children and PostgreSQL itself
            try:
                proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def wait_ready(api: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/ready", timeout=5.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the API never became ready")


def place_order(api: str) -> httpx.Response:
    body = {
        "customerName": "Ada",
        "customerEmail": "ada@example.com",
        "items": [{"productVariantId": DEMO_VARIANT, "quantity": 1}],
    }
    headers = {"Idempotency-Key": f"make-run-{uuid.uuid4()}"}
    return httpx.post(f"{api}/api/orders", json=body, headers=headers, timeout=90.0)


def test_make_run_restarts_a_killed_worker_and_stops_when_postgresql_dies(make_run: MakeRun) -> None:
    make_run.wait_for(r"^\[run\] press Ctrl-C to stop$")
    wait_ready(make_run.api)
    [worker] = make_run.pids("worker", 1)
    [api] = make_run.pids("api", 1)
    [payments] = make_run.pids("localstripe", 1)
    [base] = make_run.wait_for(r"^\[run\] Payments: +localstripe at (http://127\.0\.0\.1:\d+) ")
    assert httpx.get(f"{base.group(1)}/js.stripe.com/v3/", timeout=10.0).status_code == 200
    assert (make_run.data / "stripe-webhook-secret").read_text().startswith("whsec_")
    intent = httpx.post(
        f"{base.group(1)}/v1/payment_intents",
        data={"amount": "1000", "currency": "eur", "capture_method": "manual"},
        auth=("sk_test_localstripe", ""),
        timeout=10.0,
    )
    assert intent.status_code == 200, intent.text
    assert (make_run.data / "localstripe.pickle").exists()  # its state, under DATA_DIR: never /tmp/localstripe.pickle

    os.kill(worker, signal.SIGKILL)
    make_run.wait_for(r"^\[run\] worker was killed by SIGKILL; restarting it in 1s$")
    worker_again = make_run.pids("worker", 2)[1]
    assert worker_again != worker and alive(worker_again)
    # the new worker does the work: an order is placed (which needs the worker) after the old one was killed
    placed = place_order(make_run.api)
    assert placed.status_code == 201, placed.text

    postmaster = int((make_run.data / "postgres" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    try:
        returncode = make_run.proc.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"make run kept running without PostgreSQL:\n{make_run.output()[-6000:]}") from None

    output = make_run.output()
    assert returncode == 1, output[-6000:]
    assert "[run] PostgreSQL is down: its server process exited; stopping everything\n" in output
    assert "[run] stopping api\n" in output and "[run] stopping worker\n" in output
    assert "[run] stopping localstripe\n" in output
    assert not alive(worker_again) and not alive(api) and not alive(payments)


def _processes_of(data: Path) -> list[str]:
    """The processes still running on `data` (PostgreSQL and its backends name their data directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(data) in cmdline and alive(int(entry.name)):
                found.append(f"{entry.name}: {cmdline}")
    return found


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _postgres(make_run: MakeRun) -> tuple[int, int]:
    """The pid and port of make run's PostgreSQL, once it has started."""
    pid_file = make_run.data / "postgres" / "postmaster.pid"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and len(pid_file.read_text().splitlines() if pid_file.exists() else []) < 4:
        time.sleep(0.1)
    lines = pid_file.read_text().splitlines()
    return int(lines[0]), int(lines[3])


def _assert_stopped_leaving_nothing(make_run: MakeRun, pids: list[int], ports: list[int]) -> None:
    try:
        make_run.proc.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"make run did not stop:\n{make_run.output()[-6000:]}") from None
    output = make_run.output()
    assert make_run.proc.returncode == 0, output[-6000:]
    assert "[run] stopping PostgreSQL\n" in output, output[-6000:]
    assert [pid for pid in pids if alive(pid)] == [], output[-6000:]
    assert _processes_of(make_run.data) == [], output[-6000:]
    assert [port for port in ports if not port_free(port)] == [], output[-6000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_signal_during_start_up_stops_what_started_and_leaves_no_process_or_port(
    make_run_without_temporal: MakeRun, sig: signal.Signals
) -> None:
    """Temporal does not answer yet: PostgreSQL is up and migrated, the worker and the API are not started."""
    run = make_run_without_temporal
    run.wait_for(r"^\[run\] applying migrations$")
    postmaster, pg_port = _postgres(run)
    time.sleep(1.0)  # into the wait for Temporal

    run.proc.send_signal(sig)

    _assert_stopped_leaving_nothing(run, [postmaster], [pg_port, int(run.api.rsplit(":", 1)[1])])
    assert f"[run] {sig.name}: stopping\n" in run.output()


def test_a_signal_while_postgresql_starts_stops_it_once_it_is_up(make_run_without_temporal: MakeRun) -> None:
    run = make_run_without_temporal
    run.wait_for(r"^\[run\] starting embedded PostgreSQL")

    run.proc.send_signal(signal.SIGTERM)

    _assert_stopped_leaving_nothing(run, [], [])


def test_sighup_while_running_stops_every_child_and_frees_every_port(make_run: MakeRun) -> None:
    make_run.wait_for(r"^\[run\] press Ctrl-C to stop$")
    wait_ready(make_run.api)
    [worker], [api] = make_run.pids("worker", 1), make_run.pids("api", 1)
    postmaster, pg_port = _postgres(make_run)

    make_run.proc.send_signal(signal.SIGHUP)  # the terminal closed

    _assert_stopped_leaving_nothing(make_run, [worker, api, postmaster], [pg_port, int(make_run.api.rsplit(":", 1)[1])])
    assert "[run] stopping api\n" in make_run.output() and "[run] stopping worker\n" in make_run.output()
