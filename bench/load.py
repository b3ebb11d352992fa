"""The load generator: run an operation a bounded number of times at a fixed concurrency, and its statistics.

Every loop is bounded twice: by a count and by a wall-clock deadline. Each operation has its own timeout too,
so a stuck server ends the measurement (with errors) instead of hanging it.
"""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

OP_TIMEOUT = 60.0  # seconds for one operation (one placement, or one whole lifecycle)
MAX_ERROR_SAMPLES = 5

Operation = Callable[[int], Awaitable[object]]


@dataclass
class Sample:
    """Latencies (seconds) of the operations that succeeded, the failures, and the wall time of the run."""

    latencies: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each success, perf_counter
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    truncated: bool = False  # the deadline ended the run before `count` operations were done

    def add(self, other: "Sample") -> None:
        """Take in the operations of another run of the same operation (one round of several)."""
        self.latencies += other.latencies
        self.spans += other.spans
        self.errors += other.errors
        self.error_samples = (self.error_samples + other.error_samples)[:MAX_ERROR_SAMPLES]
        self.elapsed += other.elapsed
        self.truncated = self.truncated or other.truncated

    def fail(self, error: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{type(error).__name__}: {error}"[:300])


async def timed(op: Operation, index: int, sample: Sample) -> None:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(OP_TIMEOUT):  # in this task: an interruption reaches the operation directly
            await op(index)
    except Exception as error:  # noqa: BLE001 - a failed operation is counted and reported, not fatal
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError() from error  # the run is being interrupted, not the operation failing
        sample.fail(error)
        return
    ended = time.perf_counter()
    sample.latencies.append(ended - started)
    sample.spans.append((started, ended))


async def drive(op: Operation, *, count: int, concurrency: int, deadline: float, first: int = 0,
                until: Callable[[], bool] = lambda: True) -> Sample:  # fmt: skip
    """Run `op(first..first+count-1)` with `concurrency` operations in flight, none started after `deadline` s
    or once `until()` is false."""
    sample = Sample()
    next_index = first
    end_index = first + count
    started = time.perf_counter()
    stop_at = started + deadline

    async def slot() -> None:
        nonlocal next_index
        while next_index < end_index:
            if time.perf_counter() > stop_at or not until():
                sample.truncated = True
                return
            index = next_index
            next_index += 1
            await timed(op, index, sample)

    await asyncio.gather(*(slot() for _ in range(max(1, min(concurrency, count)))))
    sample.elapsed = time.perf_counter() - started
    return sample


async def interleave(ops: Sequence[Operation], samples: list[Sample], *, rounds: int, deadline: float) -> None:
    """One operation of each kind per round, one at a time: the kinds see the same machine conditions.

    Each sample's `elapsed` is the time spent in its own operations, so its throughput is that of c=1.
    """
    stop_at = time.perf_counter() + deadline
    for index in range(rounds):
        if time.perf_counter() > stop_at:
            for sample in samples:
                sample.truncated = True
            break
        for op, sample in zip(ops, samples, strict=True):
            started = time.perf_counter()
            await timed(op, index, sample)
            sample.elapsed += time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1); with few values p99 is the maximum."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
