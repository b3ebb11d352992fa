"""The pieces of `make run`'s supervisor, each one a function or a small class that tests can drive on its own.

- `pump`: copies a child's output, each line prefixed with the child's name, whatever the line's length;
- `Child`: the worker or the API as a child process, restarted with backoff when it exits; a crash loop
  (`RestartPolicy.max_restarts` restarts within `RestartPolicy.window` seconds) raises `CrashLoop`;
- `Dependency` and `watch`: PostgreSQL and Temporal; `watch` returns once one is down, so `make run` stops
  instead of serving 503s forever;
- `supervise`: runs all of these until Ctrl-C, a crash loop or a dependency that is down, and says which;
- `StopSignals`: SIGINT, SIGTERM and SIGHUP, handled from `make run`'s first line, start-up included.
"""

import asyncio
import codecs
import contextlib
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

READ_CHUNK = 64 * 1024
STOP_TIMEOUT = 15.0


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


# --- output ---------------------------------------------------------------------------------------------------


async def pump(name: str, stream: asyncio.StreamReader, out: TextIO | None = None) -> None:
    """Copy `stream` to `out` (default stdout), each line prefixed with `[name] `, until the stream ends.

    Reads chunks, not lines: `StreamReader.readline()` raises once a line outgrows the reader's limit (64 KiB),
    which used to end the pump and leave the child blocked on a full pipe.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    prefix = f"[{name}] "
    at_line_start = True
    while True:
        chunk = await stream.read(READ_CHUNK)
        text = decoder.decode(chunk, final=not chunk)
        target = out or sys.stdout
        for piece in text.splitlines(keepends=True):
            if at_line_start:
                target.write(prefix)
            target.write(piece)
            at_line_start = piece.endswith("\n")
        if not chunk:
            if not at_line_start:
                target.write("\n")  # the child's last line had no newline: end it, so ours start on their own
            target.flush()
            return
        target.flush()


# --- children -------------------------------------------------------------------------------------------------


class CrashLoop(Exception):
    """A child keeps exiting: restarting it again would only hide the cause."""


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff between restarts, and what counts as a crash loop."""

    first_delay: float = 1.0  # seconds before the first restart; doubled for each quick exit after it
    max_delay: float = 30.0
    max_restarts: int = 5  # more restarts than this within `window` seconds is a crash loop
    window: float = 120.0  # also: a child that ran this long before exiting starts the backoff afresh


@dataclass
class Restarts:
    """The restart decisions for one child: a pure record of its exits, given the times they happened."""

    name: str
    policy: RestartPolicy
    times: deque[float] = field(default_factory=deque)
    delay: float = 0.0

    def after_exit(self, now: float, ran_for: float, how: str) -> float:
        """Seconds to wait before the next start; raises `CrashLoop` when this exit is one too many."""
        while self.times and now - self.times[0] > self.policy.window:
            self.times.popleft()
        if len(self.times) >= self.policy.max_restarts:
            raise CrashLoop(
                f"{self.name} {how}, after {len(self.times)} restarts within {self.policy.window:g}s: giving up "
                f"(its output above says why)"
            )
        self.times.append(now)
        if ran_for >= self.policy.window or self.delay == 0.0:
            self.delay = self.policy.first_delay
        else:
            self.delay = min(self.delay * 2, self.policy.max_delay)
        return self.delay


def wait_or_kill(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Wait up to `timeout` seconds for a process that was asked to stop, then SIGKILL it; returns once it exited."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM a server started with `subprocess` (unless it has exited), then as `wait_or_kill`."""
    if proc.poll() is None:
        proc.terminate()
        wait_or_kill(proc, timeout)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Child:
    """A child process (worker, API) that `run()` keeps alive; its output goes through `pump`."""

    name: str
    args: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    policy: RestartPolicy = RestartPolicy()
    out: TextIO | None = None
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    _pumping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.cwd,
            env=dict(self.env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # we stop children ourselves, in order, on Ctrl-C
        )
        assert self.proc.stdout is not None
        # The pump outlives `run()`: output written while the child shuts down is still read and shown.
        self._pumping = asyncio.create_task(pump(self.name, self.proc.stdout, self.out))
        self.starts += 1
        say(f"{self.name} started (pid {self.proc.pid})")

    async def run(self) -> None:
        """Keep the child running: each time it exits, start it again after a backoff; raise `CrashLoop`.

        Cancel the task to stop supervising; `stop()` then stops the process.
        """
        restarts = Restarts(self.name, self.policy)
        if self.proc is None:
            await self.start()
        while True:
            assert self.proc is not None and self._pumping is not None
            started = time.monotonic()
            returncode = await self.proc.wait()
            await self._drain()  # the rest of its output first, so its last words come before ours
            how = describe_exit(returncode)
            delay = restarts.after_exit(time.monotonic(), time.monotonic() - started, how)
            say(f"{self.name} {how}; restarting it in {delay:g}s")
            await asyncio.sleep(delay)
            await self.start()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            say(f"stopping {self.name}")
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(timeout):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await self._drain(timeout)

    async def _drain(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait until the pump has copied the output of the exited child; give up if a grandchild keeps the pipe."""
        if self._pumping is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._pumping


# --- dependencies ---------------------------------------------------------------------------------------------


class DependencyDown(Exception):
    """PostgreSQL or Temporal is gone: the worker and the API cannot do anything useful without it."""


@dataclass
class Dependency:
    """A server the system needs. `alive` (when we run its process) tells at once that the process is gone;
    `probe` (a request that must succeed) covers servers we do not run and servers that hang."""

    name: str
    probe: Callable[[], Awaitable[object]]
    alive: Callable[[], bool] | None = None


@dataclass(frozen=True)
class WatchPolicy:
    interval: float = 1.0  # seconds between probes
    probe_timeout: float = 5.0
    grace: float = 15.0  # unanswered this long (e.g. a restart that never finishes) means down


@dataclass
class Outage:
    """Whether a run of failed probes has lasted past the grace period: a pure record, given the times."""

    grace: float
    since: float | None = None

    def observe(self, ok: bool, now: float) -> bool:
        """Record one probe; True once the dependency has failed every probe for `grace` seconds."""
        if ok:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.grace


async def watch(dependency: Dependency, policy: WatchPolicy = WatchPolicy()) -> str:
    """Return why `dependency` is down, once it is: its process exited, or it stopped answering."""
    outage = Outage(policy.grace)
    while True:
        if dependency.alive is not None and not dependency.alive():
            return f"{dependency.name} is down: its server process exited"
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as the probe
            # finishes, and the watch would then never stop
            async with asyncio.timeout(policy.probe_timeout):
                await dependency.probe()
            ok, error = True, ""
        except Exception as exc:  # noqa: BLE001 - any failure of the probe counts as "not answering"
            ok, error = False, f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        if outage.observe(ok, time.monotonic()):
            return f"{dependency.name} is down: it has not answered for {policy.grace:g}s (last error: {error})"
        await asyncio.sleep(policy.interval)


# --- all together ---------------------------------------------------------------------------------------------


async def supervise(children: Sequence[Child], dependencies: Sequence[Dependency], stop: asyncio.Event,
                    policy: WatchPolicy = WatchPolicy()) -> int:  # fmt: skip
    """Run until `stop` is set (0), a child crash-loops or a dependency is down (1, and say which).

    Children not started yet are started first. They are left running: the caller stops them, in its order.
    """
    for child in children:
        if child.proc is None:
            await child.start()
    runs = [asyncio.create_task(child.run(), name=child.name) for child in children]
    watches = [asyncio.create_task(watch(dependency, policy)) for dependency in dependencies]
    stopper = asyncio.create_task(stop.wait())
    tasks = [*runs, *watches, stopper]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopper:
                continue
            if task in watches:
                say(f"{task.result()}; stopping everything")
                return 1
            error = task.exception()
            if isinstance(error, CrashLoop):
                say(f"{error}; stopping everything")
                return 1
            if error is not None:
                raise error
        return 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- stopping -------------------------------------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """Ctrl-C, SIGTERM (a service manager, `docker stop`) and SIGHUP (the terminal closed) all stop `make run` the
    same way, whenever they come: their default action would kill it at once and leave PostgreSQL, Temporal, the
    worker and the API running, holding their ports.

    Made in the task that starts everything, before anything is started. During start-up a signal cancels that
    task where it stands (a blocking step finishes first), so its `finally` stops whatever had started; once
    `running()` is called it only sets `stop`, which `supervise` waits for. A second signal changes nothing:
    the stop is under way.
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self._starting: asyncio.Task[object] | None = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def running(self) -> None:
        """Start-up is over: from now on a signal is `supervise`'s to handle."""
        self._starting = None

    def interrupted(self) -> bool:
        """Whether a signal cancelled the start-up (as opposed to a cancellation from elsewhere)."""
        return self.stop.is_set()

    def _received(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            return
        say(f"{sig.name}: stopping")
        self.stop.set()
        if self._starting is not None:
            self._starting.cancel()
