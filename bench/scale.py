"""The hard moments of a shop: thousands of open orders, an expiry storm, and a worker dying under load.

- Open orders: N orders placed (through the Temporal client, as the API starts them) and left waiting for
  payment; worker and Temporal RSS at 100, 1,000 and N open;
  placement with N open; pay and cancel on runs the worker has evicted from its cache (replayed from their
  history on demand) against runs it still holds.
- Expiry storm: N orders whose payment deadlines fall within one second (see `place_aligned`), then the time
  from the first deadline until every run has released its stock and closed; the same for the floor (the same
  workflow on no-op steps, `bench.floor`); then the invariant check.
- More workers: lifecycles at c=50 with one and with two order worker processes, and a run that SIGKILLs the
  second worker mid-load: the dip, the recovery, and the invariant check (nothing lost).
"""

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from temporalio.client import Client
from temporalio.service import RPCError

from bench.drivers import STORM_EMAIL_ADDRESS, Direct, Placed, Rest
from bench.floor import StepMode
from bench.load import Sample, drive, interleave
from bench.report import (
    Invariants,
    KillRun,
    Kind,
    Measurement,
    OpenOrders,
    RssPoint,
    Storm,
    StormSide,
    Subject,
    Workers,
    mib,
)
from bench.servers import Say, Stack
from services.payment.stripe_provider import build_provider
from stack.db import create_engine
from tooling.invariants import Expectations, check_invariants

OPEN_CONCURRENCY = 20
RSS_CHECKPOINTS = (100, 1000)
STORM_CONCURRENCY = 20
MIN_RATE = 2.0  # placements/s the storm's target assumes at least, however slow the earlier measurement was
MIN_LEAD = 1.0  # seconds an order's timer must still have when it is placed; later, the storm stops placing
# The storm's deadline leaves this much more than the placing time its rate hint predicts: the hint (the c=20
# placement rate measured earlier) was within 5-10% of the storm's own rate, and every second of margin is a second
# of waiting, twice per run.
PLACING_MARGIN = 1.2
POLL_INTERVAL = 0.25
STORM_TIMEOUT = 300.0  # seconds after the first deadline before a storm is given up as unfinished
VISIBILITY_TIMEOUT = 60.0  # seconds for a closed run to show as closed in visibility
WORKER_CONCURRENCY = 50
RATE_WINDOW = 10.0  # seconds before the kill the rate before is measured over
MAX_VIOLATIONS = 20
LEFT_SQL = text("""
    SELECT (SELECT COUNT(*) FROM ordering.orders WHERE id = ANY(:ids) AND status <> 'Expired'),
           (SELECT COUNT(*) FROM ordering.order_items i
              JOIN inventory.stock_reservations r ON r.id = i.inventory_reservation_id
             WHERE i.order_id = ANY(:ids) AND r.status = 'Active')
""")  # the storm's orders not yet Expired, and their reservations still Active

PlaceWithTimeout = Callable[[int, int], Awaitable[Placed]]


async def invariants(stack: Stack, expected: Expectations) -> Invariants:
    provider = build_provider(stack.settings) if stack.settings.stripe_api_base else None  # the card lifecycles'
    report = await check_invariants(stack.procs.database_url, stack.client, stack.procs.task_queue, expected,
                                    provider=provider)  # fmt: skip
    violations = [*report.duplicates, *report.lost, *report.inconsistent]
    return Invariants(ok=report.ok, summary=report.summary(), violations=violations[:MAX_VIOLATIONS])


# --- open orders -------------------------------------------------------------------------------------


class OpenPhase:
    """The open-orders phase, in steps, so that the expiry storm's orders can be its last open orders.

    Alone (no storm): `fill` N, `read_rss`, `placement_with_open`, `pay_and_cancel`. With a storm of S orders:
    `fill` N - S (plus the orders `pay_and_cancel` cancels), `pay_and_cancel`, then the storm places its S orders
    and, before their deadline, `read_rss` at N open and `placement_with_open` (see `storm(between=...)`).
    """

    def __init__(self, stack: Stack, rest: Rest, *, samples: int, max_cached: int, deadline: float, say: Say) -> None:
        self.stack = stack
        self.rest = rest
        self.samples = samples
        self.max_cached = max_cached
        self.deadline = deadline
        self.say = say
        self.open_before = len(rest.placed) - len(rest.shipped)
        self.first = len(rest.placed)
        self.cancelled = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.rss: list[RssPoint] = []
        self.read_rss(0)
        self.measured: dict[str, Measurement] = {}  # by their names in OpenOrders
        self.evicted_available = False
        self.rate: float | None = None  # orders/s `fill` placed at: the storm's orders are placed the same way
        # Placed as the storm's orders are, straight through the Temporal client with the API's own start (the
        # same run, input and search attributes as POST /api/orders, and the API's payment timeout): the API's
        # share of a placement is measured by `placement_with_open`, and would only slow the filling up.
        self.direct = Direct(stack.client, stack.settings, rest.variants)

    @property
    def placed(self) -> list[str]:
        return self.rest.placed[self.first :]

    async def _place(self, index: int) -> None:
        placed = await self.direct.place_order(index)
        self.rest.record(placed.model_dump(mode="json", by_alias=True))

    def read_rss(self, open_orders: int) -> None:
        worker, temporal = mib(self.stack.rss("worker")), mib(self.stack.rss("temporal"))
        self.rss.append(RssPoint(open_orders=open_orders, worker_mib=worker, temporal_mib=temporal))

    async def fill(self, count: int) -> None:
        """Place `count` open orders, reading the RSS at each checkpoint on the way."""
        done = 0
        for checkpoint in sorted({c for c in RSS_CHECKPOINTS if c < count} | {count}):
            self.say(f"open orders: placing {done + 1}..{checkpoint} at c={OPEN_CONCURRENCY}")
            sample = await drive(self._place, count=checkpoint - done, concurrency=OPEN_CONCURRENCY,
                                 deadline=self.deadline, first=self.first + done)  # fmt: skip
            self.errors += sample.errors
            self.error_samples += sample.error_samples
            if sample.elapsed > 0 and sample.latencies:
                self.rate = len(sample.latencies) / sample.elapsed  # of the last (largest) step
            done = checkpoint
            if checkpoint < count:
                self.read_rss(len(self.placed))

    async def placement_with_open(self, open_orders: int) -> None:
        """POST /api/orders at c=20 with `open_orders` open."""
        self.say(f"placement at c={OPEN_CONCURRENCY} with {open_orders} orders open: {self.samples} placements")
        sample = await drive(self.rest.place, count=self.samples, concurrency=OPEN_CONCURRENCY,
                             deadline=self.deadline, first=len(self.rest.placed))  # fmt: skip
        self.measured["placement_with_open"] = Measurement.of(
            sample, kind=Kind.PLACEMENT, subject=Subject.PROJECT, concurrency=OPEN_CONCURRENCY, requested=self.samples
        )

    async def pay_and_cancel(self) -> None:
        """Pay and cancel, one at a time and interleaved, orders whose runs were evicted and orders still cached."""
        # The worker's cache is LRU: the first orders of the phase were evicted once `max_cached` newer runs came
        # in, the newest ones are still held. Each evicted run that is paid or cancelled comes back into the cache
        # and pushes out the least recently used, far from the newest `2 * samples`.
        samples = self.samples
        phase = self.placed
        self.evicted_available = len(phase) - 2 * samples >= self.max_cached  # runs placed after the evicted ones
        evicted = phase[: 2 * samples]
        cached = self.rest.placed[-2 * samples :]
        self.say(f"creating {2 * samples} payments (unmeasured), then pay / cancel on evicted and on cached runs")
        rest = self.rest
        paid = evicted[::2] + cached[::2]
        payments = {order_id: (await rest.create_payment(rest.orders[order_id]))["id"] for order_id in paid}

        def pay(orders: list[str]) -> Callable[[int], Awaitable[None]]:
            return lambda index: rest.succeed_payment(payments[orders[2 * index]], index)

        def cancel(orders: list[str]) -> Callable[[int], Awaitable[None]]:
            return lambda index: rest.cancel(orders[2 * index + 1])

        kinds = {"pay_evicted": pay(evicted), "pay_cached": pay(cached),
                 "cancel_evicted": cancel(evicted), "cancel_cached": cancel(cached)}  # fmt: skip
        results = {name: Sample() for name in kinds}
        await interleave(list(kinds.values()), list(results.values()), rounds=samples, deadline=self.deadline)
        self.cancelled += len(results["cancel_evicted"].latencies) + len(results["cancel_cached"].latencies)
        for name, result in results.items():
            self.measured[name] = Measurement.of(result, kind=Kind.PLACEMENT, subject=Subject.PROJECT, concurrency=1,
                                                 requested=samples)  # fmt: skip

    def result(self, requested: int, storm_orders: int = 0) -> OpenOrders:
        return OpenOrders(
            requested=requested, placed=self.rss[-1].open_orders, storm_orders=storm_orders, errors=self.errors,
            error_samples=self.error_samples[:5], open_before=self.open_before, max_cached_workflows=self.max_cached,
            rss=self.rss, evicted_available=self.evicted_available, **self.measured,
        )  # fmt: skip


# --- expiry storm ------------------------------------------------------------------------------------


async def place_aligned(
    place: PlaceWithTimeout, *, count: int, rate_hint: float, deadline: float, then_s: float = 0.0
) -> tuple[list[Placed], Sample]:
    """Place `count` runs whose timers all fire within one second.

    A run's timer is set when placing ends, to `now + timeout` with a whole number of seconds: a run placed at t
    fires at t + latency + timeout. With timeout = round(target - t - latency), the latency estimated from the
    runs placed just before, every deadline falls in [target - 0.5 s, target + 0.5 s), give or take the
    latency's jitter, at the placing rate of an ordinary burst. The target leaves room for placing everything at
    `rate_hint` runs/s (the c=20 placement rate measured earlier in the run), with a margin, and `then_s` seconds
    for what has to run after placing and before the first deadline (placing stops when a timer would be shorter).
    """
    placing_time = count / max(MIN_RATE, rate_hint)
    target = math.ceil(time.time() + placing_time * PLACING_MARGIN + 2 * MIN_LEAD + then_s)
    placed: list[Placed] = []
    latencies: list[float] = [0.1]  # seconds from a call to its run's timer start, recent ones

    def timeout(now: float) -> int:
        return round(target - now - statistics.median(latencies[-20:]))

    async def one(index: int) -> None:
        now = time.time()
        seconds = timeout(now)
        run = await place(index, seconds)
        placed.append(run)
        latencies.append(run.payment_deadline.timestamp() - seconds - now)

    sample = await drive(one, count=count, concurrency=STORM_CONCURRENCY, deadline=deadline,
                         until=lambda: timeout(time.time()) >= MIN_LEAD + then_s)  # fmt: skip
    return placed, sample


async def _close_times(client: Client, query: str, runs: list[Placed]) -> list[datetime | None]:
    """When each of `runs` closed (None: still open), from visibility; waits a little for it to catch up."""
    wanted = {run.workflow_id for run in runs}
    deadline = time.monotonic() + VISIBILITY_TIMEOUT
    ends: list[datetime | None] = [None] * len(runs)
    while True:
        try:
            found = {
                execution.id: execution.close_time
                async for execution in client.list_workflows(query)
                if execution.id in wanted
            }
            ends = [found.get(run.workflow_id) for run in runs]
        except RPCError:  # a busy dev server times out a visibility listing now and then: read it again
            pass
        if all(end is not None for end in ends) or time.monotonic() > deadline:
            return ends
        await asyncio.sleep(POLL_INTERVAL)


def in_one_second(deadlines: Sequence[datetime]) -> int:
    """The most deadlines within any one second (a sliding window over the sorted deadlines)."""
    ordered = sorted(deadlines)
    most, first = 0, 0
    for last, deadline in enumerate(ordered):
        while (deadline - ordered[first]).total_seconds() >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def left_curve(first: datetime, ends: Sequence[datetime | None]) -> list[tuple[float, int]]:
    """(seconds since `first`, runs still open) every POLL_INTERVAL until the last one closed; None: never."""
    seconds = [(end - first).total_seconds() for end in ends if end is not None]
    never = len(ends) - len(seconds)
    steps = math.ceil(max(seconds, default=0.0) / POLL_INTERVAL)
    return [
        (round(step * POLL_INTERVAL, 2), never + sum(1 for s in seconds if s > step * POLL_INTERVAL))
        for step in range(steps + 1)
    ]


@dataclass
class Between:
    """What runs after the project's storm orders are placed and before their first deadline, and the seconds the
    deadline leaves for it: the open-orders phase's last figures, when the storm's orders are its last open orders."""

    run: Callable[[int], Awaitable[None]]  # called with the number of storm orders placed
    seconds: float


async def _storm_side(
    stack: Stack, subject: Subject, place: PlaceWithTimeout, *, count: int, rate_hint: float, deadline: float,
    left: Callable[[list[Placed]], Awaitable[tuple[int, int]]], query: str, say: Say, between: Between | None = None,
) -> StormSide:  # fmt: skip
    say(f"expiry storm, {subject}: placing {count} runs with their deadlines in one second")
    placed, sample = await place_aligned(place, count=count, rate_hint=rate_hint, deadline=deadline,
                                         then_s=between.seconds if between is not None else 0.0)  # fmt: skip
    side = StormSide(subject=subject, requested=count, placed=len(placed), errors=sample.errors,
                     error_samples=sample.error_samples, placing_s=round(sample.elapsed, 2))  # fmt: skip
    if not placed:
        return side
    first = min(run.payment_deadline for run in placed)
    last = max(run.payment_deadline for run in placed)
    side.first_deadline = first
    side.deadline_spread_s = round((last - first).total_seconds(), 3)
    side.in_one_second = in_one_second([run.payment_deadline for run in placed])
    say(f"expiry storm, {subject}: {len(placed)} placed in {sample.elapsed:.1f}s, deadlines within "
        f"{side.deadline_spread_s:.2f}s")  # fmt: skip
    if between is not None:
        await between.run(len(placed))
    side.wait_s = round(first.timestamp() - time.time(), 2)
    say(f"expiry storm, {subject}: waiting {max(0.0, side.wait_s):.1f}s for the first deadline")
    await asyncio.sleep(max(0.0, side.wait_s))
    polled: list[tuple[float, int]] = []
    with stack.cpu_used() as cpu:
        while True:
            open_runs, reservations = await left(placed)
            elapsed = time.time() - first.timestamp()
            polled.append((round(elapsed, 2), reservations))
            if (open_runs == 0 and reservations == 0) or elapsed > STORM_TIMEOUT:
                break
            await asyncio.sleep(POLL_INTERVAL)
    side.cpu_s = cpu
    if polled[-1][1] == 0 and open_runs == 0:
        side.settled_s = polled[-1][0]
    ends = await _close_times(stack.client, query, placed)
    side.runs_left = left_curve(first, ends)
    side.deadlines_ahead = left_curve(first, [run.payment_deadline for run in placed])
    if all(end is not None for end in ends):
        side.done_s = round(max((end - first).total_seconds() for end in ends if end is not None), 3)
    side.reservations_left = polled if subject is Subject.PROJECT else []
    return side


async def storm(
    stack: Stack, variants: list[UUID], *, count: int, rate_hint: tuple[float, float | None], deadline: float,
    say: Say, between: Between | None = None,
) -> Storm:  # fmt: skip
    """The project's storm, then the floor's, and the invariant check after the project's. `rate_hint`: the
    placement rates measured earlier in the run, the project's and the floor's (capped at the project's storm's)."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # storm runs start after this
    engine = create_engine(stack.procs.database_url, pool_size=1)
    try:

        async def project_left(placed: list[Placed]) -> tuple[int, int]:
            ids = [run.order_id for run in placed]
            async with engine.connect() as connection:
                row = (await connection.execute(LEFT_SQL, {"ids": ids})).one()
            return int(row[0]), int(row[1])

        project = await _storm_side(
            stack, Subject.PROJECT, Direct(stack.client, stack.settings, variants, STORM_EMAIL_ADDRESS).place,
            count=count, rate_hint=rate_hint[0], deadline=deadline, left=project_left, say=say, between=between,
            # closed runs only: the open orders' runs stay open, and listing them would only slow the reading
            query=f"WorkflowType = 'OrderWorkflow' AND TaskQueue = '{stack.procs.task_queue}' "
            f"AND StartTime >= '{since}' AND ExecutionStatus != 'Running'",
        )  # fmt: skip
        say("expiry storm: checking the invariants")
        async with engine.connect() as connection:
            email = {"email": STORM_EMAIL_ADDRESS}
            rows = await connection.execute(text("SELECT id FROM ordering.orders WHERE customer_email = :email"), email)
            storm_orders = [row[0] for row in rows]
    finally:
        await engine.dispose()
    checked = await invariants(stack, Expectations(statuses=dict.fromkeys(storm_orders, "Expired"), email_domain=None))

    floor = stack.floor_settings(StepMode.DURABLE)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    baseline_query = (
        f"WorkflowType = 'OrderWorkflow' AND TaskQueue = '{floor.temporal_task_queue}' AND StartTime >= '{since}'"  # noqa: E501
    )
    baseline_query_open = f"{baseline_query} AND ExecutionStatus = 'Running'"

    async def baseline_left(placed: list[Placed]) -> tuple[int, int]:
        try:
            running = await stack.client.count_workflows(baseline_query_open)
        except RPCError:  # a busy dev server times out now and then: count as still running, poll again
            return len(placed), 0
        return running.count, 0

    baseline = await _storm_side(
        stack, Subject.BASELINE_DURABLE, Direct(stack.client, floor, variants).place, count=count, deadline=deadline,
        rate_hint=min(rate_hint[1] or math.inf, project.placed / max(project.placing_s, 1.0)), left=baseline_left,
        query=baseline_query, say=say,
    )  # fmt: skip
    return Storm(project=project, baseline=baseline, invariants=checked)


# --- more workers ------------------------------------------------------------------------------------


def _rate(ends: list[float], start: float, end: float) -> float:
    return sum(1 for t in ends if start <= t < end) / (end - start) if end > start else 0.0


def kill_figures(
    spans: list[tuple[float, float]], *, started: float, kill: float, stop: float
) -> dict[str, float | None]:
    """Rate before the kill, the dip after it, the recovery, and when the last lifecycle in flight finished.

    All times are perf_counter seconds; the figures are seconds relative to the kill (rates in lifecycles/s).
    """
    ends = sorted(end for _, end in spans)
    window_start = max(started + 2.0, kill - RATE_WINDOW)  # the first two seconds ramp up
    before = _rate(ends, window_start, kill) if kill > window_start else None
    dip: float | None = None
    dip_at: float | None = None
    t = kill
    while t + 2.0 <= stop:
        rate = _rate(ends, t, t + 2.0)
        if dip is None or rate < dip:
            dip, dip_at = rate, t
        t += 0.5
    recovered: float | None = None
    if before is not None and dip_at is not None:
        t = dip_at
        while t + 3.0 <= stop:
            if _rate(ends, t, t + 3.0) >= 0.9 * before:
                recovered = t - kill
                break
            t += 0.5
    in_flight = [end for start, end in spans if start < kill < end]
    return {
        "rate_before": None if before is None else round(before, 2),
        "dip_rate": None if dip is None else round(dip, 2),
        "dip_at_s": None if dip_at is None else round(dip_at - kill, 2),
        "recovered_s": None if recovered is None else round(recovered, 2),
        "in_flight_done_s": round(max(in_flight) - kill, 2) if in_flight else None,
    }


async def workers(
    stack: Stack, rest: Rest, *, one: Measurement, measure: Callable[[], Awaitable[Measurement]], kill_run_s: float,
    kill_at_s: float, say: Say,
) -> Workers:  # fmt: skip
    """`one`: the c=50 lifecycles measured on one worker; `measure` measures them again, on two."""
    say("starting a second order worker on the task queue")
    second = await stack.start_worker()
    two = await measure()

    say(f"lifecycles at c={WORKER_CONCURRENCY} for {kill_run_s:.0f}s, SIGKILL of {second} after {kill_at_s:.0f}s")
    shipped_before = len(rest.shipped)
    pending_before = set(rest.pending)
    pending_placements = rest.pending_placements
    started = time.perf_counter()
    killed_at = 0.0

    async def killer() -> None:
        nonlocal killed_at
        await asyncio.sleep(kill_at_s)
        stack.kill_worker(second)
        killed_at = time.perf_counter()
        say(f"killed {second}")

    kill_task = asyncio.create_task(killer())
    count = math.ceil(2 * kill_run_s * max(1.0, two.throughput_per_s)) + WORKER_CONCURRENCY  # the duration ends it
    sample = await drive(rest.lifecycle, count=count, concurrency=WORKER_CONCURRENCY, deadline=kill_run_s,
                         first=len(rest.placed))  # fmt: skip
    await kill_task
    stop = started + kill_run_s
    figures = kill_figures(sample.spans, started=started, kill=killed_at, stop=stop)
    end = max((end for _, end in sample.spans), default=stop)
    per_second = Counter(int(end - started) for _, end in sample.spans)  # lifecycles completed in each second
    say("more workers: checking the invariants (every completed lifecycle Shipped, nothing lost)")
    # Completed lifecycles are Shipped; one whose pay or ship answered 503 order_action_pending must still get there.
    pending = {order_id: status for order_id, status in rest.pending.items() if order_id not in pending_before}
    statuses = [*pending.items(), *dict.fromkeys(rest.shipped[shipped_before:], "Shipped").items()]
    expected = Expectations(statuses={UUID(order_id): status for order_id, status in statuses})
    checked = await invariants(stack, expected)
    kill = KillRun(
        concurrency=WORKER_CONCURRENCY, duration_s=kill_run_s, kill_at_s=round(killed_at - started, 2),
        ok=len(sample.latencies), errors=sample.errors, error_samples=sample.error_samples, invariants=checked,
        pending=len(pending) + rest.pending_placements - pending_placements,
        timeline=[(float(second), per_second[second]) for second in range(math.ceil(end - started))], **figures,
    )  # fmt: skip
    return Workers(one=one, two=two, kill=kill)
