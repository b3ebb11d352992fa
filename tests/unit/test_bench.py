"""The benchmark harness: its counting and bounds, and one whole run with tiny counts (`--quick`).

No timing is asserted: only that every figure was measured, written and printed, and that nothing the run
started is left running.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from bench.load import Sample, drive, percentile
from bench.report import BenchResult, Kind, Subject, TargetId

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300  # seconds; a quick run takes well under a minute


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
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
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
    expected = (
        {(Kind.PLACEMENT, subject, 1, 1) for subject in Subject}
        | {(Kind.PLACEMENT, Subject.PROJECT, 1, lines) for lines in (10, 50)}
        | {(Kind.PLACEMENT, subject, 20, 1) for subject in Subject}
        | {(Kind.LIFECYCLE, subject, c, 1) for subject in Subject for c in (1, 20, 50)}
    )
    assert {(m.kind, m.subject, m.concurrency, m.lines) for m in result.measurements} == expected
    for m in result.measurements:
        assert (m.ok, m.errors, m.truncated) == (m.requested, 0, False), m
        assert m.p50_ms is not None and m.throughput_per_s > 0
    assert {"worker", "api", "baseline_worker"} <= set(result.peak_rss_mib)
    assert all(value > 0 for value in result.peak_rss_mib.values())
    assert {target.id for target in result.targets} == set(TargetId)
    assert all(target.measured is not None for target in result.targets)
    assert set(result.breakdown) == set(Subject)

    table = done.stdout
    for row in ("POST /api/orders p50 c=1", "lifecycle c=20", "placement 50 lines", "peak RSS worker"):
        assert row in table
    assert sum(line.endswith(("| pass", "| miss")) for line in table.splitlines()) == 3
