"""A worker with stand-in activities on the time-skipping server, and the runs a test starts on it."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from contracts.order import OrderOutcome
from tests.orders import order_input
from tests.workflows.fakes import FakeWorld
from workflows.order import OrderWorkflow, workflow_id

PAYMENT_TIMEOUT = timedelta(minutes=15)


@dataclass
class Harness:
    client: Client
    task_queue: str
    world: FakeWorld
    started: list[WorkflowHandle[OrderWorkflow, OrderOutcome]] = field(default_factory=list)

    async def start(
        self, *lines: tuple[uuid.UUID, int], placement_attempts: int = 30
    ) -> WorkflowHandle[OrderWorkflow, OrderOutcome]:
        order_id = uuid.uuid4()
        handle = await self.client.start_workflow(
            OrderWorkflow.run,
            order_input(
                order_id,
                *lines,
                payment_timeout_seconds=int(PAYMENT_TIMEOUT.total_seconds()),
                placement_attempts=placement_attempts,
            ),
            id=workflow_id(order_id),
            task_queue=self.task_queue,
        )
        self.started.append(handle)
        return handle

    async def terminate_open_runs(self) -> None:
        """An open run whose worker is gone would hold the shared test server's clock still for every test."""
        for handle in self.started:
            try:
                await handle.terminate("test finished")
            except RPCError:
                pass  # already finished


def refusal_code(error: WorkflowUpdateFailedError) -> str | None:
    assert isinstance(error.cause, ApplicationError)
    return error.cause.type
