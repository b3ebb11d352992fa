"""The figures of one run: one model (written as JSON, `bench/results/latest.json`) and its renderings, all from
the same rows (`rows`): the printed table (`text`), the README's table (`markdown`, `python -m bench.report
[result.json]`); `details` adds what a table does not show (errors, CPU per lifecycle, the machine's load)."""

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from bench.load import Sample, percentile

MIB = 1024 * 1024
FLOOR_WORKER = "baseline_worker"  # the floor's worker process, as the results name it (peak_rss_mib, cpu_s)


def mib(value: int | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


class Subject(StrEnum):
    """The project over REST, and the floor (bench.floor: OrderWorkflow on no-op steps) in each step mode."""

    PROJECT = "project"
    PROJECT_CARD = "project_card"  # the lifecycle paid with a card through the provider (localstripe), not Manual
    BASELINE_ACTIVITY = "baseline_activity"  # every step an ordinary activity
    BASELINE_LOCAL = "baseline_local"  # every step a local activity
    BASELINE_DURABLE = "baseline_durable"  # the workflow's own rule


LABELS = {
    Subject.PROJECT: "project (REST)",
    Subject.PROJECT_CARD: "project (REST), card through the provider",
    Subject.BASELINE_ACTIVITY: "floor, ordinary activities",
    Subject.BASELINE_LOCAL: "floor, local activities",
    Subject.BASELINE_DURABLE: "floor, durability rule",
}
FLOORS = (Subject.BASELINE_ACTIVITY, Subject.BASELINE_LOCAL, Subject.BASELINE_DURABLE)


class Kind(StrEnum):
    PLACEMENT = "placement"  # one order placed: POST /api/orders, or the baseline's update-with-start
    LIFECYCLE = "lifecycle"  # place -> pay -> ship


def key(kind: Kind, subject: Subject, concurrency: int, lines: int = 1) -> str:
    return f"{kind}.{subject}.c{concurrency}.l{lines}"


class Measurement(BaseModel):
    key: str
    kind: Kind
    subject: Subject
    concurrency: int
    lines: int
    requested: int
    ok: int
    errors: int
    error_samples: list[str]
    truncated: bool
    elapsed_s: float
    throughput_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    cpu_s: dict[str, float]  # CPU seconds each process used during this measurement (empty when interleaved)

    @classmethod
    def of(cls, sample: Sample, *, kind: Kind, subject: Subject, concurrency: int, requested: int, lines: int = 1,
           cpu_s: dict[str, float] | None = None) -> "Measurement":  # fmt: skip
        ms = [value * 1000 for value in sample.latencies]

        def stat(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 2)

        return cls(
            key=key(kind, subject, concurrency, lines), kind=kind, subject=subject, concurrency=concurrency,
            lines=lines, requested=requested, ok=len(ms), errors=sample.errors, error_samples=sample.error_samples,
            truncated=sample.truncated, elapsed_s=round(sample.elapsed, 3),
            throughput_per_s=round(len(ms) / sample.elapsed, 2) if sample.elapsed > 0 else 0.0,
            p50_ms=stat(percentile(ms, 0.50)), p95_ms=stat(percentile(ms, 0.95)), p99_ms=stat(percentile(ms, 0.99)),
            mean_ms=stat(sum(ms) / len(ms)) if ms else None, min_ms=stat(min(ms)) if ms else None,
            max_ms=stat(max(ms)) if ms else None,
            cpu_s={name: round(seconds, 3) for name, seconds in (cpu_s or {}).items()},
        )  # fmt: skip


# --- scale: open orders, expiry storm, more workers ---------------------------------------------------


class Invariants(BaseModel):
    """One reading of `tooling.invariants` after a phase: the whole database and every order run."""

    ok: bool
    summary: str
    violations: list[str]  # the first few, if any


class RssPoint(BaseModel):
    open_orders: int  # orders this phase has placed and left open
    worker_mib: float | None
    temporal_mib: float | None


class OpenOrders(BaseModel):
    requested: int
    placed: int  # orders open at the last RSS reading (the expiry storm's included)
    storm_orders: int = 0  # the last of them: the expiry storm's, placed once pay / cancel were measured
    errors: int
    error_samples: list[str]
    open_before: int  # orders earlier phases left open (placement-only measurements)
    max_cached_workflows: int
    rss: list[RssPoint]
    placement_with_open: Measurement  # placements at c=20 once `placed` orders are open
    pay_evicted: Measurement  # POST /api/payments/{id}/succeed, on runs evicted from the worker's cache
    pay_cached: Measurement
    cancel_evicted: Measurement  # POST /api/orders/{id}/cancel
    cancel_cached: Measurement
    evicted_available: bool  # False when every open run fits in the cache (nothing was evicted)


class StormSide(BaseModel):
    subject: Subject
    requested: int
    placed: int
    errors: int
    error_samples: list[str]
    placing_s: float
    wait_s: float | None = None  # end of placing (and of what ran before the deadline) -> the first deadline
    first_deadline: datetime | None = None
    deadline_spread_s: float | None = None  # last deadline - first deadline
    in_one_second: int | None = None  # the most deadlines within any one second
    done_s: float | None = None  # first deadline -> the last run closed (after its release step)
    settled_s: float | None = None  # first deadline -> PostgreSQL showed every order Expired and released (polled)
    runs_left: list[tuple[float, int]] = []  # (seconds since the first deadline, runs still open), from close times
    deadlines_ahead: list[tuple[float, int]] = []  # (seconds since the first deadline, runs whose timer is still ahead)
    reservations_left: list[tuple[float, int]] = []  # (seconds, Active reservations of the storm's orders), polled
    cpu_s: dict[str, float] = {}  # CPU seconds per process from the first deadline until done


class Storm(BaseModel):
    project: StormSide
    baseline: StormSide
    invariants: Invariants | None


class KillRun(BaseModel):
    concurrency: int
    duration_s: float  # no lifecycle started after this
    kill_at_s: float
    ok: int
    errors: int  # lifecycles that failed, the `pending` ones included
    pending: int  # pay or ship answered 503 order_action_pending: expected to finish anyway (invariants check it)
    error_samples: list[str]
    rate_before: float | None  # lifecycles/s in the seconds before the kill
    dip_rate: float | None  # the lowest 2-second rate after the kill
    dip_at_s: float | None
    recovered_s: float | None  # kill -> first 3-second window after the dip at >= 90% of rate_before
    in_flight_done_s: float | None  # kill -> the last lifecycle in flight at the kill finished
    timeline: list[tuple[float, int]]  # (second since start, lifecycles completed in it)
    invariants: Invariants | None


class Workers(BaseModel):
    one: Measurement  # lifecycle c=50, one order worker
    two: Measurement  # the same with two worker processes on the task queue
    kill: KillRun | None


class Abuse(BaseModel):
    """The hostile-load phase: the same honest lifecycles without attackers and among them, and the verdict."""

    shoppers: int
    attackers: int
    alone: Measurement
    attacked: Measurement
    honest_5xx: int  # server errors honest clients got, in both runs
    attacker_answers: dict[str, int]  # status (or the client's error) -> how many
    invariants: Invariants | None
    p95_ratio: float | None  # honest p95 among attackers / without
    met: bool  # 100% honest success, no 5xx to honest clients, p95 <= 2x, invariants clean


class RoundRatio(BaseModel):
    """The project's lifecycles/s over one floor's, taken round by round: the median and the spread."""

    floor: Subject
    median: float | None
    low: float | None
    high: float | None


class Rounds(BaseModel):
    """Lifecycles at one concurrency in interleaved rounds: each subject once per round, always in the same order,
    so a change of the machine's speed during the run reaches every subject alike instead of one of them."""

    concurrency: int
    per_round: int  # lifecycles per subject per round
    rates: dict[Subject, list[float]]  # lifecycles/s of each round, per subject
    ratios: list[RoundRatio]  # project / each floor


def round_ratios(rates: Mapping[Subject, Sequence[float]]) -> list[RoundRatio]:
    """project / floor for each floor measured, from the ratios of the rounds (a round without a rate skipped)."""
    project = rates.get(Subject.PROJECT, ())
    ratios = []
    for floor in FLOORS:
        if floor not in rates:
            continue
        per_round = [mine / theirs for mine, theirs in zip(project, rates[floor], strict=True) if mine and theirs]
        low, median, high = (round(f(per_round), 3) if per_round else None for f in (min, statistics.median, max))
        ratios.append(RoundRatio(floor=floor, median=median, low=low, high=high))
    return ratios


class Phase(BaseModel):
    """How long one phase of the run took, in wall-clock seconds."""

    name: str
    seconds: float


class Machine(BaseModel):
    cpus: int
    python: str
    platform: str
    load_average_before: tuple[float, float, float]
    load_average_after: tuple[float, float, float]


class BenchResult(BaseModel):
    started_at: datetime
    finished_at: datetime
    duration_s: float
    orders: int  # operations per measurement
    quick: bool
    machine: Machine
    versions: dict[str, str]
    measurements: list[Measurement]
    peak_rss_mib: dict[str, float]
    notes: list[str]
    open_orders: OpenOrders | None = None
    storm: Storm | None = None
    workers: Workers | None = None
    rounds: list[Rounds] = []  # lifecycles in interleaved rounds (c=20)
    phases: list[Phase] = []  # in the order they ran
    abuse: Abuse | None = None

    def get(self, kind: Kind, subject: Subject, concurrency: int, lines: int = 1) -> Measurement | None:
        wanted = key(kind, subject, concurrency, lines)
        return next((m for m in self.measurements if m.key == wanted), None)

    def round_ratio(self, floor: Subject, concurrency: int) -> RoundRatio | None:
        found = next((r for r in self.rounds if r.concurrency == concurrency), None)
        return next((ratio for ratio in found.ratios if ratio.floor is floor), None) if found else None

    def lifecycle_ratio(self, floor: Subject, concurrency: int) -> float | None:
        """Project / floor lifecycles per second: the median of the rounds where there were rounds."""
        ratio = self.round_ratio(floor, concurrency)
        if ratio is not None:
            return ratio.median
        project, theirs = (
            _rate(self.get(Kind.LIFECYCLE, subject, concurrency)) for subject in (Subject.PROJECT, floor)
        )
        return _ratio(project, theirs)


def _p50(measurement: Measurement | None) -> float | None:
    return measurement.p50_ms if measurement else None


def _rate(measurement: Measurement | None) -> float | None:
    return measurement.throughput_per_s if measurement else None


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0:
        return None
    return value / base


def storm_ratio(storm: Storm) -> float | None:
    """The project's storm time over the floor's; None unless both placed everything they were asked to."""
    if any(side.placed < side.requested for side in (storm.project, storm.baseline)):
        return None
    return _ratio(storm.project.done_s, storm.baseline.done_s)


def failed(result: BenchResult) -> bool:
    """Whether the run must exit non-zero: an operation failed where none may, or an invariant broke."""
    if any(m.errors for m in result.measurements):
        return True
    checks = []
    if result.storm is not None:
        checks.append(result.storm.invariants)
        if result.storm.project.done_s is None or result.storm.baseline.done_s is None:
            return True
    if result.workers is not None and result.workers.kill is not None:
        checks.append(result.workers.kill.invariants)
        kill = result.workers.kill
        if result.workers.one.errors or result.workers.two.errors or kill.errors > kill.pending:
            return True
    if result.abuse is not None:
        ab = result.abuse
        checks.append(ab.invariants)
        if ab.alone.errors or ab.attacked.errors or ab.honest_5xx:
            return True
    if result.open_orders is not None:
        oo = result.open_orders
        measured = (oo.placement_with_open, oo.pay_evicted, oo.pay_cached, oo.cancel_evicted, oo.cancel_cached)
        if oo.errors or any(m.errors for m in measured):
            return True
    return any(check is None or not check.ok for check in checks)


def write(result: BenchResult, out_dir: Path) -> Path:
    """`<UTC timestamp>.json` and `latest.json` in `out_dir`; returns the timestamped path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = result.model_dump_json(indent=2) + "\n"
    path = out_dir / f"{result.started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)
    return path


# --- the rows every rendering shows ------------------------------------------------------------------

Row = tuple[str, str, str]  # (figure, project, against)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _floors(value: float | None, floors: dict[Subject, float | None], digits: int,
            ratios: dict[Subject, float | None] | None = None) -> str:  # fmt: skip
    """`floor, ordinary activities 12.3 (0.50x); floor, local activities ...`: each floor and project / floor."""
    parts = [
        f"{LABELS[floor]} {_num(figure, digits)} ({_times((ratios or {}).get(floor) or _ratio(value, figure))})"
        for floor, figure in floors.items()
        if figure is not None
    ]
    return "; ".join(parts) or "-"


def cpu_per_lifecycle(measurement: Measurement) -> dict[str, float]:
    """CPU milliseconds per completed lifecycle, per process (processes under 0.5 ms left out)."""
    if not measurement.ok:
        return {}
    per = {name: 1000 * seconds / measurement.ok for name, seconds in measurement.cpu_s.items()}
    return {name: round(ms, 1) for name, ms in per.items() if ms >= 0.5}


def per_core(measurement: Measurement) -> tuple[float | None, float | None]:
    """Lifecycles/s one core sustains: for the order workers alone, and for the whole stack (no harness)."""
    per = cpu_per_lifecycle(measurement)
    worker_ms = sum(ms for name, ms in per.items() if name.startswith("worker"))
    stack_ms = sum(ms for name, ms in per.items() if name not in ("harness", "other", FLOOR_WORKER))
    return (round(1000 / worker_ms, 1) if worker_ms else None, round(1000 / stack_ms, 1) if stack_ms else None)


def _measured_rows(result: BenchResult) -> list[Row]:
    rows: list[Row] = []
    pair = (Subject.BASELINE_ACTIVITY, Subject.BASELINE_LOCAL)
    for concurrency in (1, 20):
        project = result.get(Kind.PLACEMENT, Subject.PROJECT, concurrency)
        for stat in ("p50_ms", "p95_ms", "p99_ms"):
            value = getattr(project, stat, None)
            floors = {floor: getattr(result.get(Kind.PLACEMENT, floor, concurrency), stat, None) for floor in pair}
            rows.append((f"POST /api/orders {stat[:3]} c={concurrency} (ms)", _num(value), _floors(value, floors, 1)))
    for concurrency in (1, 20, 50):
        value = _rate(result.get(Kind.LIFECYCLE, Subject.PROJECT, concurrency))
        floors = {floor: _rate(result.get(Kind.LIFECYCLE, floor, concurrency)) for floor in pair}
        ratios = {floor: result.lifecycle_ratio(floor, concurrency) for floor in pair}
        rows.append((f"lifecycle c={concurrency} (orders/s)", _num(value, 2), _floors(value, floors, 2, ratios)))
    for lines in (10, 50):  # 1 line: the POST /api/orders rows above
        value = _p50(result.get(Kind.PLACEMENT, Subject.PROJECT, 1, lines))
        floors = {floor: _p50(result.get(Kind.PLACEMENT, floor, 1)) for floor in pair}
        rows.append((f"placement {lines} lines p50 c=1 (ms)", _num(value), _floors(value, floors, 1)))
    rss = result.peak_rss_mib
    rows.append(("peak RSS worker / API (MiB)", f"{_num(rss.get('worker'), 0)} / {_num(rss.get('api'), 0)}",
                 f"floor's worker {_num(rss.get(FLOOR_WORKER), 0)}"))  # fmt: skip
    return rows


def _card_rows(result: BenchResult) -> list[Row]:
    """The lifecycle paid with a card through the provider beside the Manual one, at c=20: rate and CPU."""
    card, manual = (result.get(Kind.LIFECYCLE, subject, 20) for subject in (Subject.PROJECT_CARD, Subject.PROJECT))
    if card is None:
        return []
    mine, theirs = cpu_per_lifecycle(card), cpu_per_lifecycle(manual) if manual else {}
    names = [name for name in dict.fromkeys([*mine, *theirs]) if name not in ("harness", "other", FLOOR_WORKER)]
    stack = [sum(per.get(name, 0.0) for name in names) for per in (mine, theirs)]
    return [
        ("lifecycle c=20, card via localstripe (orders/s)", _num(_rate(card), 2), f"Manual: {_num(_rate(manual), 2)}"),
        ("CPU ms per lifecycle c=20, card / Manual", f"{stack[0]:.0f} / {stack[1]:.0f}",
         ", ".join(f"{name} {mine.get(name, 0):.0f} / {theirs.get(name, 0):.0f}" for name in names)),
    ]  # fmt: skip


def _round_rows(result: BenchResult) -> list[Row]:
    """The interleaved rounds: the project against each floor."""
    rows: list[Row] = []
    for rounds in result.rounds:
        c = rounds.concurrency
        project = _rate(result.get(Kind.LIFECYCLE, Subject.PROJECT, c))
        rows += [
            (f"lifecycle c={c} / {LABELS[ratio.floor]}, median of {len(rounds.rates[ratio.floor])} rounds",
             f"{_times(ratio.median)} ({_num(ratio.low, 2)}-{_num(ratio.high, 2)})",
             f"{_num(project, 2)} against {_num(_rate(result.get(Kind.LIFECYCLE, ratio.floor, c)), 2)} "
             "orders/s over all rounds")
            for ratio in rounds.ratios
        ]  # fmt: skip
    return rows


def _open_rows(oo: OpenOrders, result: BenchResult) -> list[Row]:
    rows: list[Row] = [
        (f"RSS with {point.open_orders} open orders, worker / Temporal",
         f"{_num(point.worker_mib, 0)} / {_num(point.temporal_mib, 0)} MiB", f"cache {oo.max_cached_workflows} runs")
        for point in oo.rss
    ]  # fmt: skip
    base = result.get(Kind.PLACEMENT, Subject.PROJECT, 20)
    pw = oo.placement_with_open
    rows.append((f"POST /api/orders p50 / p95, c=20, {oo.placed} open",
                 f"{_num(pw.p50_ms, 0)} / {_num(pw.p95_ms, 0)} ms",
                 f"{_num(_p50(base), 0)} / {_num(base.p95_ms if base else None, 0)} ms with few open"))  # fmt: skip
    label = "evicted (replayed)" if oo.evicted_available else "evicted: none, all cached"
    for action, evicted, cached in (("pay (succeed)", oo.pay_evicted, oo.pay_cached),
                                    ("cancel", oo.cancel_evicted, oo.cancel_cached)):  # fmt: skip
        rows.append((f"{action} p50 on {label} / cached runs", f"{_num(evicted.p50_ms)} / {_num(cached.p50_ms)} ms",
                     _times(_ratio(evicted.p50_ms, cached.p50_ms))))  # fmt: skip
    return rows


def _storm_rows(st: Storm) -> list[Row]:
    p, b = st.project, st.baseline
    rows: list[Row] = [
        (f"expiry storm: {p.placed} orders, deadlines within",
         f"{_num(p.deadline_spread_s, 2)} s, {p.in_one_second or '-'} in one second",
         f"floor: {b.placed} runs within {_num(b.deadline_spread_s, 2)} s, {b.in_one_second or '-'} in one second"),
        ("storm: first deadline -> all Expired and released", f"{_num(p.done_s, 2)} s",
         f"floor {_num(b.done_s, 2)} s: {_times(storm_ratio(st))}"),
    ]  # fmt: skip
    if st.invariants is not None:
        rows.append(("storm: invariants", "ok" if st.invariants.ok else "VIOLATED", st.invariants.summary))
    return rows


def _worker_rows(wk: Workers) -> list[Row]:
    rows: list[Row] = []
    for label, measurement in (("1 worker", wk.one), ("2 workers", wk.two)):
        worker_core, stack_core = per_core(measurement)
        per = cpu_per_lifecycle(measurement)
        workers_ms = " + ".join(f"{per[name]:.0f}" for name in sorted(per) if name.startswith("worker"))
        rows.append((f"lifecycle c=50, {label}", f"{measurement.throughput_per_s:.2f} orders/s",
                     f"worker CPU {workers_ms} ms/order: {_num(worker_core)} orders/s per worker core, "
                     f"{_num(stack_core)} per core of the whole stack"))  # fmt: skip
    kill = wk.kill
    if kill is not None:
        rows.append((f"SIGKILL 1 of 2 workers at c=50 (t={kill.kill_at_s:.0f}s)",
                     f"{_num(kill.rate_before, 1)} -> {_num(kill.dip_rate, 1)} orders/s",
                     f"recovered {_num(kill.recovered_s)} s after the kill; in-flight done after "
                     f"{_num(kill.in_flight_done_s)} s; {kill.ok} ok, {kill.errors} failed, of which {kill.pending} "
                     "answered 503 order_action_pending and finished later"))  # fmt: skip
        if kill.invariants is not None:
            rows.append(("kill: invariants", "ok" if kill.invariants.ok else "VIOLATED", kill.invariants.summary))
    return rows


def _abuse_rows(ab: Abuse) -> list[Row]:
    on, off = ab.attacked, ab.alone
    return [
        (f"hostile load: {ab.shoppers} honest shoppers among {ab.attackers} attackers",
         "target met" if ab.met else "target MISSED", "100% honest success, no 5xx, p95 <= 2x, invariants clean"),
        ("hostile load: honest lifecycles ok", f"{on.ok}/{on.requested}, {ab.honest_5xx} 5xx in both runs",
         f"{off.ok}/{off.requested} without attackers"),
        ("hostile load: honest p50 / p95 (ms)", f"{_num(on.p50_ms, 0)} / {_num(on.p95_ms, 0)}",
         f"{_num(off.p50_ms, 0)} / {_num(off.p95_ms, 0)} without attackers: p95 {_times(ab.p95_ratio)}"),
        ("hostile load: attackers' answers", ", ".join(f"{k} x{n}" for k, n in ab.attacker_answers.items()), "-"),
        ("hostile load: invariants", "ok" if ab.invariants and ab.invariants.ok else "VIOLATED",
         ab.invariants.summary if ab.invariants else "-"),
    ]  # fmt: skip


def rows(result: BenchResult) -> list[Row]:
    """Every figure of the run as (figure, project, against the floors or a reference), in a fixed order."""
    out = _measured_rows(result) + _card_rows(result) + _round_rows(result)
    if result.open_orders is not None:
        out += _open_rows(result.open_orders, result)
    if result.storm is not None:
        out += _storm_rows(result.storm)
    if result.workers is not None:
        out += _worker_rows(result.workers)
    if result.abuse is not None:
        out += _abuse_rows(result.abuse)
    total = sum(phase.seconds for phase in result.phases)
    out += [
        (f"phase: {phase.name}", f"{phase.seconds:.0f} s", f"{100 * phase.seconds / total:.0f}% of {total:.0f} s")
        for phase in result.phases
        if total
    ]
    return out


HEADER: Row = ("figure", "project", "against")


def text(result: BenchResult) -> str:
    """The rows as an aligned plain-text table (the run prints it)."""
    table = [HEADER, *rows(result)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]

    def line(cells: Row) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(HEADER), "-+-".join("-" * width for width in widths), *(line(row) for row in table[1:])])


def markdown(result: BenchResult) -> str:
    """The rows as a Markdown table, headed by the run's date and machine (for the README and docs/)."""
    machine = result.machine
    title = (
        f"`make bench`, {result.started_at:%Y-%m-%d}, {machine.cpus} CPUs, {result.orders} operations per measurement"  # noqa: E501
    )
    table = [HEADER, ("---", "---", "---"), *rows(result)]
    return "\n".join([title, "", *(f"| {' | '.join(row)} |" for row in table)])


def details(result: BenchResult) -> str:
    """What the table does not show: errors, CPU per lifecycle and process, the machine's load, the notes."""
    out = [
        "project: REST API + worker on PostgreSQL; floor: the same OrderWorkflow on no-op steps (bench.floor), with "
        "ordinary / local activities / its own rule; (x): project / floor (for orders/s higher is better, for ms "
        "lower; for lifecycles measured in rounds, the median of the rounds' ratios)"
    ]
    for m in result.measurements + ([result.abuse.alone, result.abuse.attacked] if result.abuse else []):
        if m.errors or m.truncated:
            out.append(f"! {m.key}: {m.ok}/{m.requested} ok, {m.errors} errors{' (deadline hit)' * m.truncated}")
            out += [f"    {sample}" for sample in m.error_samples]
    if result.storm is not None and (result.storm.project.wait_s or 0.0) < 0:
        out.append(f"! expiry storm: what ran before the first deadline (open orders' RSS and placement) ended "
                   f"{-(result.storm.project.wait_s or 0.0):.1f}s after it")  # fmt: skip
    for subject in Subject:
        life = result.get(Kind.LIFECYCLE, subject, 20)
        if life is not None and life.cpu_s and life.ok:
            per_order = ", ".join(f"{name} {ms:.0f}" for name, ms in cpu_per_lifecycle(life).items())
            out.append(f"CPU ms per lifecycle, {subject} c=20: {per_order}")
    machine = result.machine
    out.append(f"machine: {machine.cpus} CPUs, load average {machine.load_average_before[0]:.2f} before, "
               f"{machine.load_average_after[0]:.2f} after; {result.orders} operations per measurement; "
               f"run took {result.duration_s:.0f}s")  # fmt: skip
    out += result.notes
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    source = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json")
    print(markdown(BenchResult.model_validate_json(source.read_text())))
