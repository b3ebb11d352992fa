"""The real `python -m stack.run` (what `make run` runs): a SIGKILLed worker comes back, a dead PostgreSQL stops it.

It runs its own embedded PostgreSQL under a temporary DATA_DIR and uses the session's Temporal dev server.
"""

import os
import re
import shutil
import signal
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
    # Not under pytest's tmp_path: see tooling/processes.py (embedded PostgreSQL and /tmp/pytest-of-<user>).
    data = Path(tempfile.mkdtemp(prefix="orderflow-make-run-"))
    api_port = free_port()
    # the embedded defaults: its own PostgreSQL and its own localstripe (on a free port)
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL" and not key.startswith("STRIPE_")}
    env.update(
        DATA_DIR=str(data),
        APP_SECRET=APP_SECRET,  # make run generates PAYLOAD_KEYS itself; APP_SECRET only once `security` lands
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
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
