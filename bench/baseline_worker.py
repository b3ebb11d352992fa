"""The baseline's worker: `python -m bench.baseline_worker`, a separate OS process like `python worker.py`.

Reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_TASK_QUEUE like the order worker, and runs with the
same worker options and event loop (uvloop), so the only difference to the order worker is what the activities do.
"""

import asyncio
import logging
import signal
from datetime import timedelta

import uvloop
from temporalio.worker import Worker

from bench.baseline import ACTIVITIES, BaselineExpiryWorkflow, BaselineOrderWorkflow
from stack import temporal
from stack.settings import Settings

GRACEFUL_SHUTDOWN = timedelta(seconds=10)  # as worker.py's (not imported: that would load SQLAlchemy here too)

log = logging.getLogger("bench.baseline_worker")


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    client = await temporal.connect(settings)
    worker = Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[BaselineOrderWorkflow, BaselineExpiryWorkflow],
        activities=ACTIVITIES,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("baseline worker polling task queue %r on %s", settings.temporal_task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    uvloop.run(main())  # as worker.py
