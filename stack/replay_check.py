"""`make replay-check`: replay the histories of live runs against this working tree's workflow code.

Before a deploy, run it against the Temporal the deploy will serve (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
`TEMPORAL_TASK_QUEUE` from Settings). It downloads the histories of every open run on the worker's task queue and
of the runs closed within a window, and replays them with `temporalio.worker.Replayer`. A change that would make
those runs fail with a non-determinism error (a command added, removed or reordered without `workflow.patched`)
is caught here, with the workflow ids, instead of in production.

    python -m stack.replay_check [--closed-within-hours 24] [--limit 1000]

Exit code 0: every history replayed; 1: at least one did not (each is listed); 2: Temporal could not be reached
or refused the listing.
The client comes from `stack.temporal.connect`, so the histories decode with the same data converter as the
worker's.
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Replayer

from stack import temporal
from stack.settings import Settings
from workflows import WORKFLOWS

DEFAULT_CLOSED_WITHIN = timedelta(hours=24)
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class ReplayFailure:
    workflow_id: str
    run_id: str
    error: str


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    failures: list[ReplayFailure]


def runs_query(task_queue: str, closed_since: datetime) -> str:
    """Visibility query: the runs of `task_queue` that are open, or that closed at or after `closed_since`."""
    if "'" in task_queue or "\\" in task_queue:
        raise ValueError(f"unsupported task queue name: {task_queue!r}")
    since = closed_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"TaskQueue = '{task_queue}' AND (ExecutionStatus = 'Running' OR CloseTime >= '{since}')"


async def replay_runs(
    client: Client,
    task_queue: str,
    *,
    closed_within: timedelta = DEFAULT_CLOSED_WITHIN,
    limit: int | None = DEFAULT_LIMIT,
    workflows: Sequence[type] = WORKFLOWS,
) -> ReplayReport:
    """Replay the open and recently closed runs of `task_queue` against `workflows`; collect what fails."""
    query = runs_query(task_queue, datetime.now(UTC) - closed_within)
    histories = client.list_workflows(query, limit=limit).map_histories()
    replayer = Replayer(workflows=list(workflows), data_converter=client.data_converter)
    replayed = 0
    failures: list[ReplayFailure] = []
    async with replayer.workflow_replay_iterator(histories) as results:
        async for result in results:
            replayed += 1
            if result.replay_failure is not None:
                message = str(result.replay_failure).strip().splitlines() or [type(result.replay_failure).__name__]
                failures.append(ReplayFailure(result.history.workflow_id, result.history.run_id, message[0]))
    return ReplayReport(replayed=replayed, failures=failures)


def _say(message: str) -> None:
    print(f"[replay-check] {message}", flush=True)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make replay-check", description="Replay live runs' histories against this working tree's workflows."
    )
    parser.add_argument(
        "--closed-within-hours",
        type=float,
        default=DEFAULT_CLOSED_WITHIN.total_seconds() / 3600,
        help="also replay runs that closed within this many hours (default %(default)g); open runs always",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help="replay at most this many runs, newest first (default %(default)d)",
    )
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None, *, workflows: Sequence[type] = WORKFLOWS) -> int:
    args = _arguments(argv)
    settings = Settings()
    where = f"{settings.temporal_address}, namespace {settings.temporal_namespace!r}"
    try:
        client = await temporal.connect(settings)
    except RuntimeError as error:
        _say(f"cannot reach Temporal at {where}: {error}")
        return 2
    _say(
        f"replaying the runs of task queue {settings.temporal_task_queue!r} on {where}: open ones and those closed "
        f"within {args.closed_within_hours:g}h (at most {args.limit})"
    )
    try:
        report = await replay_runs(
            client,
            settings.temporal_task_queue,
            closed_within=timedelta(hours=args.closed_within_hours),
            limit=args.limit,
            workflows=workflows,
        )
    except RPCError as error:
        _say(f"cannot list or fetch the runs on {where}: {error.status.name}: {error.message}")
        return 2
    for failure in report.failures:
        _say(f"FAILED {failure.workflow_id} (run {failure.run_id}): {failure.error}")
    if report.replayed >= args.limit:
        _say(f"stopped at the limit of {args.limit} runs: older ones were not checked")
    if report.failures:
        ids = ", ".join(sorted({failure.workflow_id for failure in report.failures}))
        _say(f"{len(report.failures)} of {report.replayed} runs do not replay on this code: {ids}")
        return 1
    _say(f"{report.replayed} runs replayed on this code, none failed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
