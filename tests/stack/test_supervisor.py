"""`make run`'s supervising pieces (stack/supervisor.py), driven with small stand-in child processes."""

import asyncio
import io
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from stack import run, supervisor, temporal
from stack.settings import Settings
from stack.supervisor import (
    Child,
    CrashLoop,
    Dependency,
    Outage,
    RestartPolicy,
    Restarts,
    WatchPolicy,
    pump,
    supervise,
    watch,
)
from tests.conftest import PAYLOAD_KEYS, UNREACHABLE_TEMPORAL
from tooling.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
QUICK = RestartPolicy(first_delay=0.01, max_delay=0.05, max_restarts=3, window=3600.0)
EVENTUALLY = 30.0  # seconds: an upper bound for waiting, never an assertion about speed


async def eventually(condition: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), EVENTUALLY)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def pumped(code: str) -> str:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    out = io.StringIO()
    await pump("child", proc.stdout, out)
    await proc.wait()
    return out.getvalue()


def child(name: str, code: str, out: io.StringIO, policy: RestartPolicy = QUICK) -> Child:
    return Child(name, [sys.executable, "-c", code], env=dict(os.environ), cwd=ROOT, policy=policy, out=out)


# --- the log pump -----------------------------------------------------------------------------------------------


async def test_a_line_longer_than_the_stream_limit_is_copied_whole() -> None:
    # Before the fix, `readline()` raised ValueError on this line and the pump died (the child then blocked).
    out = await pumped("print('x' * 300_000); print('after')")
    assert out == f"[child] {'x' * 300_000}\n[child] after\n"


async def test_every_line_is_prefixed_and_an_unfinished_last_line_is_ended() -> None:
    out = await pumped("import sys; sys.stdout.write('one\\n\\ntwo\\nlast words')")
    assert out == "[child] one\n[child] \n[child] two\n[child] last words\n"


async def test_a_character_split_across_reads_survives_and_bad_bytes_do_not_stop_the_pump() -> None:
    code = "import sys; sys.stdout.buffer.write(b'a' * 65535 + 'é'.encode() + b'\\n\\xff\\xfe\\nok\\n')"
    out = await pumped(code)
    assert out == f"[child] {'a' * 65535}é\n[child] \ufffd\ufffd\n[child] ok\n"


# --- restart decisions (pure) -----------------------------------------------------------------------------------


def test_the_delay_doubles_for_quick_exits_up_to_its_maximum() -> None:
    restarts = Restarts("worker", RestartPolicy(first_delay=1, max_delay=5, max_restarts=10, window=60))
    delays = [restarts.after_exit(now=float(n), ran_for=0.5, how="exited with code 1") for n in range(5)]
    assert delays == [1, 2, 4, 5, 5]


def test_a_child_that_ran_for_a_window_starts_the_backoff_afresh() -> None:
    restarts = Restarts("worker", RestartPolicy(first_delay=1, max_delay=30, max_restarts=10, window=60))
    assert [restarts.after_exit(now=float(n), ran_for=1, how="x") for n in range(3)] == [1, 2, 4]
    assert restarts.after_exit(now=500.0, ran_for=400, how="x") == 1


def test_one_restart_too_many_within_the_window_is_a_crash_loop() -> None:
    restarts = Restarts("api", RestartPolicy(first_delay=1, max_delay=30, max_restarts=3, window=60))
    for now in (0.0, 10.0, 20.0):
        restarts.after_exit(now=now, ran_for=1, how="exited with code 1")
    with pytest.raises(CrashLoop, match=r"api exited with code 1, after 3 restarts within 60s: giving up"):
        restarts.after_exit(now=30.0, ran_for=1, how="exited with code 1")


def test_exits_older_than_the_window_do_not_count_towards_a_crash_loop() -> None:
    restarts = Restarts("api", RestartPolicy(first_delay=1, max_delay=30, max_restarts=3, window=60))
    for now in (0.0, 10.0, 20.0):
        restarts.after_exit(now=now, ran_for=1, how="x")
    restarts.after_exit(now=75.0, ran_for=1, how="x")  # the first two are more than 60 s old by now
    restarts.after_exit(now=79.0, ran_for=1, how="x")
    with pytest.raises(CrashLoop):
        restarts.after_exit(now=80.0, ran_for=1, how="x")


def test_an_outage_is_down_only_after_failing_for_the_whole_grace_period() -> None:
    outage = Outage(grace=10)
    assert [outage.observe(False, now) for now in (0, 5, 9.9)] == [False, False, False]
    assert outage.observe(True, 10) is False  # it answered again: the outage is over
    assert [outage.observe(False, now) for now in (11, 20, 21)] == [False, False, True]


# --- children as real processes ---------------------------------------------------------------------------------


async def test_a_child_that_keeps_exiting_is_restarted_then_given_up_as_a_crash_loop() -> None:
    out = io.StringIO()
    flaky = child("flaky", "import sys; print('boom'); sys.exit(3)", out)
    with pytest.raises(CrashLoop, match=r"flaky exited with code 3, after 3 restarts"):
        await flaky.run()
    assert flaky.starts == QUICK.max_restarts + 1
    assert out.getvalue() == "[flaky] boom\n" * flaky.starts


async def test_a_killed_child_comes_back() -> None:
    out = io.StringIO()
    sleeper = child("sleeper", "import time; print('up', flush=True); time.sleep(600)", out)
    running = asyncio.create_task(sleeper.run())
    try:
        await eventually(lambda: sleeper.proc is not None and out.getvalue() == "[sleeper] up\n", "first start")
        assert sleeper.proc is not None
        first = sleeper.proc.pid
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: sleeper.starts == 2 and out.getvalue().count("up") == 2, "restart")
        assert sleeper.proc.pid != first and sleeper.proc.returncode is None
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await sleeper.stop()
    assert sleeper.proc.returncode == -signal.SIGTERM


async def test_stop_terminates_a_child_and_keeps_its_last_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = (
        "import os, signal, time\n"
        # os.write, not print: the signal may land while print('up') is still inside the buffered writer
        "signal.signal(signal.SIGTERM, lambda *_: (os.write(1, b'bye\\n'), os._exit(0)))\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    out = io.StringIO()
    polite = child("polite", code, out)
    await polite.start()
    await eventually(lambda: "up" in out.getvalue(), "start")
    await polite.stop()
    assert polite.proc is not None and polite.proc.returncode == 0
    assert out.getvalue() == "[polite] up\n[polite] bye\n"
    assert "[run] stopping polite" in capsys.readouterr().out


# --- dependencies and the whole supervisor -------------------------------------------------------------------------


def failing(error: Exception) -> Callable[[], Awaitable[object]]:
    async def probe() -> object:
        raise error

    return probe


async def answering() -> object:
    return None


async def test_a_dependency_whose_process_exited_is_down_at_once() -> None:
    reason = await watch(Dependency("PostgreSQL", answering, alive=lambda: False), WatchPolicy(grace=3600))
    assert reason == "PostgreSQL is down: its server process exited"


async def test_a_dependency_that_stops_answering_is_down_after_the_grace_period() -> None:
    dependency = Dependency("Temporal", failing(ConnectionRefusedError("connection refused")))
    reason = await watch(dependency, WatchPolicy(interval=0.01, grace=0.05))
    assert reason == (
        "Temporal is down: it has not answered for 0.05s (last error: ConnectionRefusedError: connection refused)"
    )


async def test_supervise_stops_with_1_when_a_dependency_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    children = [child("worker", "import time; time.sleep(600)", out)]
    dependencies = [Dependency("Temporal", answering), Dependency("PostgreSQL", answering, alive=lambda: False)]
    try:
        assert await supervise(children, dependencies, asyncio.Event()) == 1
    finally:
        for each in children:
            await each.stop()
    assert "[run] PostgreSQL is down: its server process exited; stopping everything" in capsys.readouterr().out


async def test_supervise_stops_with_1_on_a_crash_loop(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    children = [child("api", "import sys; sys.exit(1)", out), child("worker", "import time; time.sleep(600)", out)]
    try:
        assert await supervise(children, [Dependency("PostgreSQL", answering)], asyncio.Event()) == 1
    finally:
        for each in children:
            await each.stop()
    printed = capsys.readouterr().out
    assert "[run] api exited with code 1; restarting it in 0.01s" in printed
    assert "[run] api exited with code 1, after 3 restarts within 3600s: giving up" in printed


async def test_supervise_returns_0_when_asked_to_stop() -> None:
    out = io.StringIO()
    children = [child("worker", "import time; time.sleep(600)", out)]
    stop = asyncio.Event()
    stop.set()
    try:
        assert await supervise(children, [Dependency("PostgreSQL", answering)], stop) == 0
    finally:
        await children[0].stop()
    assert children[0].starts == 1


def test_the_exit_of_a_killed_child_names_the_signal() -> None:
    assert supervisor.describe_exit(-9) == "was killed by SIGKILL"
    assert supervisor.describe_exit(2) == "exited with code 2"


def test_stop_process_terminates_a_server_and_kills_one_that_ignores_sigterm() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    ignores_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(3600)"
    )
    stubborn = subprocess.Popen([sys.executable, "-c", ignores_term], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None
    stubborn.stdout.readline()  # SIGTERM is ignored from here on
    try:
        supervisor.stop_process(polite)
        supervisor.stop_process(stubborn, timeout=0.5)
        supervisor.stop_process(polite)  # one that has exited already: nothing to do
    finally:
        for proc in (polite, stubborn):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stubborn.stdout.close()
    assert (polite.returncode, stubborn.returncode) == (-signal.SIGTERM, -signal.SIGKILL)


# --- run.py's watched dependencies, on real servers ----------------------------------------------------------------


def temporal_settings(address: str) -> Settings:
    # the database is not probed by these tests; run._dependencies only needs a URL
    return Settings(
        _env_file=None,
        temporal_address=address,
        database_url="postgresql+asyncpg://unused@/unused",
        payload_keys=PAYLOAD_KEYS,
    )


async def test_a_dev_server_that_make_run_started_is_down_once_its_process_exits() -> None:
    port = free_port()
    dev_server = temporal.start_dev_server(port=port, ui_port=free_port())
    try:
        settings = temporal_settings(f"127.0.0.1:{port}")
        client = await temporal.wait_until_reachable(settings, timeout=EVENTUALLY)
        [_, watched] = run._dependencies(settings, client, None, dev_server)
        assert await watched.probe() is not None  # it answers while it runs
        dev_server.kill()
        dev_server.wait()
        reason = await watch(watched, WatchPolicy(interval=0.05, grace=3600))
    finally:
        if dev_server.poll() is None:
            dev_server.kill()
            dev_server.wait()
    assert reason == "Temporal is down: its server process exited"


async def test_a_temporal_that_make_run_did_not_start_is_down_once_it_stops_answering() -> None:
    settings = temporal_settings(UNREACHABLE_TEMPORAL)
    client = await temporal.connect(settings, lazy=True)
    [_, watched] = run._dependencies(settings, client, None, None)
    reason = await watch(watched, WatchPolicy(interval=0.05, probe_timeout=2.0, grace=0.2))
    assert reason.startswith("Temporal is down: it has not answered for 0.2s (last error: ")


async def test_the_database_probe_answers_on_a_live_database_and_fails_on_a_dead_one(database_url: str) -> None:
    await run._probe_database(database_url)
    with pytest.raises(OSError):
        await run._probe_database("postgresql+asyncpg://postgres@/orderflow?host=/nonexistent-socket-dir")
