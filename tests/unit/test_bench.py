"""The benchmark harness: its counting and bounds, and one whole run with tiny counts (`--quick`).

No timing is asserted: only that every figure was measured, written and printed, and that nothing the run
started is left running.
"""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.__main__ import arguments, plan_of
from bench.drivers import Direct
from bench.floor import INTERCEPTORS, StepMode, no_op_activities, task_queue
from bench.load import Sample, drive, percentile
from bench.report import BenchResult, Kind, Subject, markdown, round_ratios
from bench.scale import in_one_second, kill_figures, left_curve
from contracts.activities import ACTIVITY_CONTRACTS, activity_name
from tests.conftest import secret_settings
from workflows.order import OrderWorkflow

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the marker a local activity leaves in a history
RUN_TIMEOUT = 600  # seconds; a quick run takes 2-4 minutes (the killed worker's lifecycles wait out 30 s timeouts)


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 11)]
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.95) == 10.0
    assert percentile([3.0], 0.99) == 3.0


async def test_drive_runs_each_index_once_and_counts_failures() -> None:
    seen: list[int] = []

    async def op(index: int) -> None:
        seen.append(index)
        if index % 3 == 0:
            raise ValueError(f"refused {index}")

    sample = await drive(op, count=10, concurrency=4, deadline=60)
    assert sorted(seen) == list(range(10))
    assert (len(sample.latencies), sample.errors, sample.truncated) == (6, 4, False)
    assert sample.error_samples[0].startswith("ValueError: refused")


async def test_drive_starts_nothing_after_its_deadline() -> None:
    async def op(index: int) -> None:
        raise AssertionError("must not run")

    sample = await drive(op, count=10, concurrency=2, deadline=-1)
    assert sample == Sample(elapsed=sample.elapsed, truncated=True)


def test_left_curve_counts_runs_still_open_until_the_last_closes() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    ends = [first + timedelta(seconds=s) for s in (0.1, 0.3, 1.0)]
    assert left_curve(first, ends) == [(0.0, 3), (0.25, 2), (0.5, 1), (0.75, 1), (1.0, 0)]
    assert left_curve(first, [None, first])[-1] == (0.0, 1)  # a run that never closed stays counted


def test_in_one_second_finds_the_densest_second() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    deadlines = [first + timedelta(seconds=s) for s in (0.0, 5.0, 5.1, 5.2, 5.3, 5.99, 6.0)]
    assert in_one_second(deadlines) == 5
    assert in_one_second([]) == 0


def test_kill_figures_find_the_dip_and_the_recovery() -> None:
    # 10 lifecycles/s for 10 s, none for 4 s after a kill at t=10, then 10/s again; one lifecycle spans the kill
    ends = [t / 10 for t in range(1, 100)] + [14 + t / 10 for t in range(0, 100)]
    spans = [(end - 0.05, end) for end in ends] + [(9.0, 16.5)]
    figures = kill_figures(spans, started=0.0, kill=10.0, stop=24.0)
    assert figures["rate_before"] == 10.0
    assert figures["dip_rate"] == 0.0 and figures["dip_at_s"] == 0.0
    assert figures["recovered_s"] is not None and 3.0 <= figures["recovered_s"] <= 4.0
    assert figures["in_flight_done_s"] == 6.5


def test_the_floor_implements_every_activity_of_the_contracts() -> None:
    declared = {name for contract in ACTIVITY_CONTRACTS for name in contract.activity_names.values()}
    assert sorted(activity_name(step) for step in no_op_activities()) == sorted(declared)


async def test_the_floor_is_the_order_workflow_on_no_op_steps_in_each_step_mode(dev_env: WorkflowEnvironment) -> None:
    """The same lifecycle in each mode: only ordinary activities, only local ones, or the workflow's own mix."""
    steps: dict[StepMode, tuple[int, int]] = {}  # mode -> (ordinary activities, local activities) of one lifecycle
    base = f"floor-{uuid.uuid4().hex[:8]}"
    for mode in StepMode:
        settings = secret_settings().model_copy(update={"temporal_task_queue": task_queue(base, mode)})
        async with Worker(
            dev_env.client,
            task_queue=settings.temporal_task_queue,
            workflows=[OrderWorkflow],
            activities=no_op_activities(),
            interceptors=INTERCEPTORS[mode],
        ):
            run = await Direct(dev_env.client, settings, [uuid.uuid4()]).lifecycle(0)
        history = await dev_env.client.get_workflow_handle(run).fetch_history()
        scheduled = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
        markers = [e for e in history.events if e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER]
        steps[mode] = (len(scheduled), len(markers))
    ordinary, local = steps[StepMode.DURABLE]
    assert ordinary > 0 and local > 0
    assert steps[StepMode.ACTIVITY] == (ordinary + local, 0)
    assert steps[StepMode.LOCAL] == (0, ordinary + local)


def test_round_ratios_are_the_median_and_spread_of_the_ratios_of_each_round() -> None:
    rates = {
        Subject.BASELINE_LOCAL: [10.0, 20.0, 10.0, 10.0],
        Subject.PROJECT: [5.0, 6.0, 6.0, 7.0],
        Subject.BASELINE_DURABLE: [10.0, 0.0, 12.0, 14.0],  # a round without a rate is left out
    }
    by_floor = {ratio.floor: ratio for ratio in round_ratios(rates)}
    assert set(by_floor) == {Subject.BASELINE_LOCAL, Subject.BASELINE_DURABLE}
    local = by_floor[Subject.BASELINE_LOCAL]
    assert (local.median, local.low, local.high) == (0.55, 0.3, 0.7)
    durable = by_floor[Subject.BASELINE_DURABLE]
    assert (durable.median, durable.low, durable.high) == (0.5, 0.5, 0.5)


def test_a_sample_of_rounds_adds_their_operations_and_times() -> None:
    first = Sample(latencies=[1.0], errors=1, error_samples=["a"], elapsed=2.0)
    first.add(Sample(latencies=[3.0, 4.0], elapsed=5.0, truncated=True))
    assert (first.latencies, first.errors, first.elapsed, first.truncated) == ([1.0, 3.0, 4.0], 1, 7.0, True)


def _left_behind(mark: str) -> list[str]:
    """Processes that inherited the run's marker variable and are still alive."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("BENCH_TEST_MARK") == mark:
                found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])}")
        except psutil.Error:
            continue
    return found


@pytest.mark.e2e
def test_quick_run_measures_everything_and_stops_everything(tmp_path: Path) -> None:
    mark = str(uuid.uuid4())
    env = dict(os.environ, BENCH_TEST_MARK=mark)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--abuse",
            "--attackers",
            "20",
            "--abuse-lifecycles",
            "1",
            "--out",
            str(tmp_path),
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert _left_behind(mark) == []

    result = BenchResult.model_validate(json.loads((tmp_path / "latest.json").read_text()))
    assert len(list(tmp_path.glob("*.json"))) == 2  # the timestamped file and latest.json
    durable, card = Subject.BASELINE_DURABLE, Subject.PROJECT_CARD  # measured in lifecycles at c=20 only
    everywhere = set(Subject) - {durable, card}
    expected = (
        {(Kind.PLACEMENT, subject, 1, 1) for subject in everywhere}
        | {(Kind.PLACEMENT, Subject.PROJECT, 1, lines) for lines in (10, 50)}
        | {(Kind.PLACEMENT, subject, 20, 1) for subject in everywhere}
        | {(Kind.LIFECYCLE, subject, c, 1) for subject in everywhere for c in (1, 20, 50)}
        | {(Kind.LIFECYCLE, durable, 20, 1), (Kind.LIFECYCLE, card, 20, 1)}
    )
    assert {(m.kind, m.subject, m.concurrency, m.lines) for m in result.measurements} == expected
    for m in result.measurements:
        assert (m.ok, m.errors, m.truncated) == (m.requested, 0, False), m
        assert m.p50_ms is not None and m.throughput_per_s > 0
    abuse = result.abuse  # no timing asserted: the honest shoppers all served, no 5xx, nothing broken
    assert abuse is not None and abuse.invariants is not None and abuse.invariants.ok, abuse
    assert (abuse.alone.ok, abuse.attacked.ok, abuse.honest_5xx) == (abuse.alone.requested, abuse.attacked.requested, 0)
    assert sum(abuse.attacker_answers.values()) >= abuse.attackers
    [rounds] = result.rounds
    assert rounds.concurrency == 20 and set(rounds.rates) == set(Subject) - {card}
    assert all(len(rates) == 2 and all(rate > 0 for rate in rates) for rates in rounds.rates.values())
    assert {ratio.floor for ratio in rounds.ratios} == set(Subject) - {Subject.PROJECT, card}
    for ratio in rounds.ratios:
        assert ratio.low is not None and ratio.median is not None and ratio.high is not None
        assert ratio.low <= ratio.median <= ratio.high
    assert result.get(Kind.LIFECYCLE, Subject.PROJECT, 20).requested == 2 * rounds.per_round  # type: ignore[union-attr]
    phases = [phase.name for phase in result.phases]
    assert phases[0] == "stack up" and phases[-1] == "stack down"
    card_life = result.get(Kind.LIFECYCLE, card, 20)  # the provider path: localstripe's CPU is counted apart
    assert card_life is not None and {"worker", "api", "temporal", "postgres", "localstripe"} <= set(card_life.cpu_s)
    assert "CPU ms per lifecycle c=20, card / Manual" in done.stdout
    for name in ("lifecycles c=20, rounds", "card lifecycles c=20", "more workers", "expiry storm", "open orders"):
        assert name in phases
    assert sum(phase.seconds for phase in result.phases) <= result.duration_s + 0.05 * len(phases)  # each rounded
    assert {"worker", "api", "baseline_worker"} <= set(result.peak_rss_mib)
    assert all(value > 0 for value in result.peak_rss_mib.values())

    open_orders = result.open_orders
    assert open_orders is not None and open_orders.placed == open_orders.requested and open_orders.errors == 0
    assert open_orders.evicted_available  # --quick sizes the cache below the open orders
    assert [point.open_orders for point in open_orders.rss] == [0, open_orders.placed]
    assert all(point.worker_mib and point.temporal_mib for point in open_orders.rss)
    for m in (open_orders.placement_with_open, open_orders.pay_evicted, open_orders.pay_cached):
        assert (m.ok, m.errors) == (m.requested, 0), m
    for m in (open_orders.cancel_evicted, open_orders.cancel_cached):
        assert (m.ok, m.errors) == (m.requested, 0), m

    storm = result.storm
    assert storm is not None and storm.invariants is not None
    assert storm.invariants.ok, storm.invariants
    for side in (storm.project, storm.baseline):
        assert (side.placed, side.errors) == (side.requested, 0), side.error_samples
        assert side.done_s is not None and side.deadline_spread_s is not None
        assert side.runs_left[0][1] > 0 and side.runs_left[-1][1] == 0
    assert storm.project.reservations_left[-1][1] == 0

    workers = result.workers
    assert workers is not None and workers.kill is not None
    for m in (workers.one, workers.two):
        assert (m.ok, m.errors) == (m.requested, 0), m
        assert {"worker", "api", "temporal"} <= set(m.cpu_s)
    assert "worker_2" in workers.two.cpu_s
    kill = workers.kill
    assert kill.ok > 0 and kill.errors == kill.pending, kill.error_samples
    assert kill.invariants is not None and kill.invariants.ok, kill.invariants

    for chart in ("latest-concurrency.svg", "latest-storm.svg", "latest-kill.svg"):
        assert "<svg" in (tmp_path / chart).read_text()

    table = done.stdout
    rows = [
        "POST /api/orders p50 c=1", "lifecycle c=20", "placement 50 lines", "peak RSS worker", "phase: expiry storm",
        "lifecycle c=20 / floor, durability rule, median of 2 rounds", "open orders, worker / Temporal",
        "storm: first deadline", "2 workers", "SIGKILL 1 of 2 workers",
    ]  # fmt: skip
    for row in rows:
        assert row in table and row in markdown(result)


def test_the_committed_result_still_renders() -> None:
    """The README's figures come from bench/results/latest.json: it loads and renders, every table row filled."""
    result = BenchResult.model_validate_json((ROOT / "bench" / "results" / "latest.json").read_text())
    lines = markdown(result).splitlines()
    assert lines[0].startswith(f"`make bench`, {result.started_at:%Y-%m-%d}")
    assert len(lines) > 20 and all(line.startswith("| ") and line.count(" | ") == 2 for line in lines[2:])


def test_options_override_the_preset_they_start_from() -> None:
    quick = plan_of(arguments(["--quick", "--storm", "0", "--no-kill"]))
    assert (quick.orders, quick.storm, quick.kill_run_s, quick.open_orders) == (3, 0, 0.0, 40)
    assert plan_of(arguments(["--orders", "30"])).orders == 30
    assert (plan_of(arguments(["--quick"])).attackers, plan_of(arguments(["--abuse"])).attackers) == (0, 200)
    assert plan_of(arguments(["--abuse", "--attackers", "7", "--abuse-lifecycles", "2"])).abuse_lifecycles == 2
    with pytest.raises(SystemExit):
        arguments(["--open-orders", "10", "--storm", "20"])  # the storm's orders are the last open orders
