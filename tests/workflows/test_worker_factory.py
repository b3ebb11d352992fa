"""The worker factory of worker.py runs workflows on the time-skipping server."""

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from stack.settings import Settings
from worker import create_worker


@workflow.defn(sandboxed=True)
class SleepyWorkflow:
    """Sleeps for a day, then reports how long it slept by the workflow clock."""

    @workflow.run
    async def run(self, days: int) -> float:
        started = workflow.now()
        await workflow.sleep(timedelta(days=days))
        return (workflow.now() - started).total_seconds()


async def test_worker_factory_runs_a_workflow_with_a_long_timer_skipped(
    time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client = time_skipping_env.client
    async with create_worker(client, settings, sessionmaker, workflows=[SleepyWorkflow], activities=[]):
        slept = await client.execute_workflow(
            SleepyWorkflow.run, 30, id=f"sleepy-{uuid.uuid4()}", task_queue=settings.temporal_task_queue
        )
    assert slept >= timedelta(days=30).total_seconds()
