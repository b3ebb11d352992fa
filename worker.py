"""The worker's composition root: `python worker.py`.

Builds settings, engine, sessionmaker, Temporal client and activity instances; registers the workflows and
activities on the task queue; stops gracefully on SIGINT/SIGTERM (in-flight activities get
`GRACEFUL_SHUTDOWN` to finish, after which Temporal retries them on another worker).
"""

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import uvloop
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from activities.maintenance import MaintenanceActivities
from contracts.activities import bound_activities
from contracts.order import ReconcileIntents
from services.payment.provider import PaymentProvider
from services.payment.providers import configured_provider
from stack import temporal
from stack.db import create_engine, create_sessionmaker
from stack.maintenance import ensure_maintenance_schedule
from stack.observability import configure_logging, tracing_interceptors, worker_runtime
from stack.schedules import ensure_schedule
from stack.settings import Settings
from workflows import WORKFLOWS
from workflows.reconcile import RECONCILE_SCHEDULE_ID, ReconcileWorkflow

GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# A sandboxed workflow re-imports its module's imports; cryptography's native bindings (the payload codec,
# reached through stack.temporal) cannot be loaded twice, and the payment provider's SDK (stripe, reached through
# this module) defines classes on the standard library's http.client, which the sandbox restricts: both are the
# worker's own copies, never called from a workflow.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography", "stripe")
)

log = logging.getLogger("worker")


def create_worker(
    client: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    task_queue: str | None = None,
    workflows: Sequence[type] | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    provider: PaymentProvider | None = None,
) -> Worker:
    """The worker factory used by `main()` and by the tests (which may pass a task queue, stand-ins, or a
    payment provider; by default the one the settings describe)."""
    if activities is None:
        payment_provider = provider or configured_provider(settings)
        authorization_valid = timedelta(days=settings.authorization_valid_days)
        activities = [
            *build_activities(sessionmaker, payment_provider, authorization_valid),
            *bound_activities(MaintenanceActivities(sessionmaker)),
        ]
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(WORKFLOWS if workflows is None else workflows),
        activities=list(activities),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=SANDBOX,
        max_cached_workflows=settings.max_cached_workflows,
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> None:
    """The Schedule that runs ReconcileWorkflow every RECONCILE_INTERVAL_SECONDS: created, or brought up to date
    with the settings when it exists (every worker start does this; it converges)."""
    action = ScheduleActionStartWorkflow(
        ReconcileWorkflow.run, ReconcileIntents(), id=RECONCILE_SCHEDULE_ID, task_queue=settings.temporal_task_queue
    )
    await ensure_schedule(client, RECONCILE_SCHEDULE_ID, action, settings.reconcile_interval_seconds)


async def main() -> None:
    settings = Settings()
    configure_logging(settings)
    engine = create_engine(settings.require_database_url(), pool_size=settings.db_pool_size)
    client = await temporal.connect(
        settings, runtime=worker_runtime(settings), interceptors=tracing_interceptors(settings, "orderflow-worker")
    )
    worker = create_worker(client, settings, create_sessionmaker(engine))
    await ensure_reconcile_schedule(client, settings)
    await ensure_maintenance_schedule(client, settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    log.info("worker polling task queue %r on %s", settings.temporal_task_queue, settings.temporal_address)
    if settings.worker_metrics_port:
        log.info("metrics on http://%s:%s/metrics", settings.api_host, settings.worker_metrics_port)
    try:
        async with worker:
            await stop.wait()
            log.info("shutting down: waiting up to %ss for in-flight activities", GRACEFUL_SHUTDOWN.seconds)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    uvloop.run(main())  # libuv's event loop: less CPU per workflow task and activity than asyncio's own
