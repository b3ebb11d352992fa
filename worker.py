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
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from activities.maintenance import MaintenanceActivities
from contracts.activities import bound_activities
from stack import temporal
from stack.db import create_engine, create_sessionmaker
from stack.maintenance import ensure_maintenance_schedule
from stack.observability import configure_logging, tracing_interceptors, worker_runtime
from stack.settings import Settings
from workflows import WORKFLOWS

GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# A sandboxed workflow re-imports its module's imports; cryptography's native bindings (the payload codec,
# reached through stack.temporal) cannot be loaded twice, so sandboxes share the worker's copy.
SANDBOX = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography"))

log = logging.getLogger("worker")


def create_worker(
    client: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    task_queue: str | None = None,
    workflows: Sequence[type] | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """The worker factory used by `main()` and by the tests (which may pass a task queue or stand-ins)."""
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(WORKFLOWS if workflows is None else workflows),
        activities=list(
            [*build_activities(sessionmaker), *bound_activities(MaintenanceActivities(sessionmaker))]
            if activities is None
            else activities
        ),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=SANDBOX,
        max_cached_workflows=settings.max_cached_workflows,
    )


async def main() -> None:
    settings = Settings()
    configure_logging(settings)
    engine = create_engine(settings.require_database_url(), pool_size=settings.db_pool_size)
    client = await temporal.connect(
        settings, runtime=worker_runtime(settings), interceptors=tracing_interceptors(settings, "orderflow-worker")
    )
    worker = create_worker(client, settings, create_sessionmaker(engine))
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
