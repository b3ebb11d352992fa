"""The `harness` fixture of the workflow tests: a worker with stand-in activities on the time-skipping server."""

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import FakeWorld
from tests.workflows.harness import Harness
from workflows.order import OrderWorkflow


@pytest.fixture
async def harness(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    world = FakeWorld()
    task_queue = f"order-wf-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=world.activities(),
    ):
        harness = Harness(time_skipping_env.client, task_queue, world)
        yield harness
        await harness.terminate_open_runs()
