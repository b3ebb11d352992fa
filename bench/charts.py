"""The run's charts, next to its JSON (matplotlib, SVG with text kept as text):

- `latest-concurrency.svg`: lifecycle throughput and latency percentiles against concurrency, the project
  against the floors (the durability-rule floor at c=20 only; and the project with two workers at c=50);
- `latest-storm.svg`: the expiry storm, runs still open (and the project's Active reservations) over time since
  the first deadline, the project against the floor;
- `latest-kill.svg`: lifecycles completed per second through the run that SIGKILLs one of two workers.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib.axes import Axes  # noqa: E402

from bench.report import LABELS, BenchResult, Kind, Subject  # noqa: E402

CONCURRENCY = (1, 20, 50)

plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, readable diffs


def _concurrency(result: BenchResult, path: Path) -> None:
    figure, (rate_axes, latency_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for subject in Subject:
        found = [(c, result.get(Kind.LIFECYCLE, subject, c)) for c in CONCURRENCY]
        points = [(c, m) for c, m in found if m is not None and m.ok]
        if not points:
            continue
        xs = [c for c, _ in points]
        line = rate_axes.plot(xs, [m.throughput_per_s for _, m in points], marker="o", label=LABELS[subject])[0]
        color = line.get_color()
        for stat, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            latency_axes.plot(xs, [getattr(m, stat) for _, m in points], style, marker="o", color=color,
                              label=f"{LABELS[subject]} {stat[:3]}")  # fmt: skip
    if result.workers is not None and result.workers.two.ok:
        rate_axes.plot([50], [result.workers.two.throughput_per_s], marker="*", markersize=12, linestyle="",
                       label="project, 2 workers")  # fmt: skip
    _style(rate_axes, "lifecycles (place, pay, ship) per second", "orders/s")
    _style(latency_axes, "lifecycle latency percentiles", "ms")
    latency_axes.set_yscale("log")
    for axes in (rate_axes, latency_axes):
        axes.set_xlabel("concurrent clients")
        axes.set_xticks(list(CONCURRENCY))
    figure.suptitle(f"make bench, {result.started_at:%Y-%m-%d %H:%M} UTC, {result.machine.cpus} CPUs")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _storm(result: BenchResult, path: Path) -> bool:
    storm = result.storm
    if storm is None:
        return False
    figure, axes = plt.subplots(figsize=(8, 4.2))
    for side, label in ((storm.project, "project"), (storm.baseline, "floor")):
        if side.runs_left:
            line = axes.step(*zip(*side.runs_left, strict=True), where="post", label=f"{label}: runs open")[0]
            axes.step(*zip(*side.deadlines_ahead, strict=True), where="post", linestyle=":", color=line.get_color(),
                      label=f"{label}: deadlines still ahead")  # fmt: skip
    if storm.project.reservations_left:
        reservations = zip(*storm.project.reservations_left, strict=True)
        axes.plot(*reservations, linestyle="--", label="project: Active reservations (polled)")
    _style(axes, "expiry storm: left over time since the first payment deadline", "left")
    axes.set_xlabel("seconds since the first deadline")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def _kill(result: BenchResult, path: Path) -> bool:
    kill = result.workers.kill if result.workers is not None else None
    if kill is None or not kill.timeline:
        return False
    figure, axes = plt.subplots(figsize=(8, 4.2))
    seconds = [second for second, _ in kill.timeline]
    completed = [count for _, count in kill.timeline]
    axes.bar(seconds, completed, width=1.0, align="edge", label="lifecycles completed")
    axes.axvline(kill.kill_at_s, color="red", label="SIGKILL of worker 2")
    axes.axvline(kill.duration_s, color="grey", linestyle=":", label="no new lifecycle after")
    _style(axes, f"c={kill.concurrency}, two workers, one killed", "lifecycles per second")
    axes.set_xlabel("seconds since the start of the run")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def _style(axes: Axes, title: str, ylabel: str) -> None:
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)


def write(result: BenchResult, out_dir: Path) -> list[Path]:
    """The charts of `result` in `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "latest-concurrency.svg"]
    _concurrency(result, written[0])
    for name, draw in (("latest-storm.svg", _storm), ("latest-kill.svg", _kill)):
        if draw(result, out_dir / name):
            written.append(out_dir / name)
    return written
