"""`make replay-check` (stack/replay_check.py) against a real dev server: the current code replays every open and
recently closed run (exit 0); a deliberately incompatible variant of the workflow fails them (exit 1, with ids).

The runs are the recorded-history scenarios (tests/workflows/record_histories.py), played on the session's dev
server with the stand-in activities; on a dev server the `expired` scenarios stay open (their payment timer is not
skipped), so the set has open and closed runs.
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.order import OrderOutcome, PlaceOrder
from stack import replay_check
from stack.replay_check import replay_runs, runs_query
from tests.conftest import PAYLOAD_KEYS
from tests.workflows.fakes import FakeWorld
from tests.workflows.record_histories import OPEN_ON_A_DEV_SERVER, SCENARIOS, TASK_QUEUE
from workflows.order import OrderWorkflow

ROOT = Path(__file__).resolve().parents[2]
EVENTUALLY = 60.0  # an upper bound for waiting on visibility, never an assertion about speed

pytestmark = pytest.mark.e2e


@activity.defn(name="replay_check_variant_audit")
async def audit(order: PlaceOrder) -> None:
    """Never runs: the replayer executes no activities."""


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class ReorderedOrderWorkflow(OrderWorkflow):
    """The deliberately incompatible change: the same workflow, calling a different activity first."""

    @workflow.run
    async def run(self, order: PlaceOrder) -> OrderOutcome:
        await workflow.execute_activity(audit, order, start_to_close_timeout=timedelta(seconds=10))
        return await super().run(order)


async def _listed(client: Client) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    query = runs_query(TASK_QUEUE, closed_since=datetime.now(UTC) - timedelta(hours=1))
    return [(run.id, run.status) async for run in client.list_workflows(query)]


@pytest.fixture(scope="module")
async def played(dev_env: WorkflowEnvironment) -> AsyncIterator[dict[str, str]]:
    """Play every scenario on the dev server; the workflow ids by scenario, once visibility lists them all."""
    client = dev_env.client
    world = FakeWorld()
    ids: dict[str, str] = {}
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[OrderWorkflow], activities=world.activities()):
        for name, scenario in SCENARIOS.items():
            handle = await scenario(client, world)
            if name not in OPEN_ON_A_DEV_SERVER:
                await handle.result()
            ids[name] = handle.id

        async def all_listed() -> None:
            while {run_id for run_id, _ in await _listed(client)} < set(ids.values()):
                await asyncio.sleep(0.2)

        await asyncio.wait_for(all_listed(), EVENTUALLY)
    yield ids


async def test_the_current_code_replays_every_open_and_recently_closed_run(
    dev_env: WorkflowEnvironment, played: dict[str, str]
) -> None:
    statuses = dict(await _listed(dev_env.client))
    assert statuses[played["expired"]] == WorkflowExecutionStatus.RUNNING
    assert statuses[played["shipped"]] == WorkflowExecutionStatus.COMPLETED

    report = await replay_runs(dev_env.client, TASK_QUEUE, closed_within=timedelta(hours=1))

    assert report.failures == []
    assert report.replayed >= len(played)


async def test_an_incompatible_change_fails_every_run_with_its_workflow_id(
    dev_env: WorkflowEnvironment, played: dict[str, str]
) -> None:
    report = await replay_runs(
        dev_env.client, TASK_QUEUE, closed_within=timedelta(hours=1), workflows=[ReorderedOrderWorkflow]
    )

    failed = {failure.workflow_id for failure in report.failures}
    assert set(played.values()) <= failed
    assert all("nondeterminism" in failure.error.lower() for failure in report.failures), report.failures


async def test_the_command_exits_1_and_names_the_runs_that_do_not_replay(
    dev_env: WorkflowEnvironment,
    played: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("PAYLOAD_KEYS", PAYLOAD_KEYS)  # the session's key: the dev server holds its payloads
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", TASK_QUEUE)

    code = await replay_check.main(["--closed-within-hours", "1"], workflows=[ReorderedOrderWorkflow])

    printed = capsys.readouterr().out
    assert code == 1, printed
    for workflow_id in played.values():
        assert f"[replay-check] FAILED {workflow_id} (run " in printed
    assert "do not replay on this code: " in printed


async def test_the_command_exits_0_on_the_current_code(dev_env: WorkflowEnvironment, played: dict[str, str]) -> None:
    env = dict(os.environ)
    env.update(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=TASK_QUEUE,
        PAYLOAD_KEYS=PAYLOAD_KEYS,
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "stack.replay_check", "--closed-within-hours", "1"],  # what `make replay-check` runs
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "runs replayed on this code, none failed" in done.stdout


async def test_an_unreachable_temporal_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    assert await replay_check.main([]) == 2
