"""MaintenanceWorkflow: what the maintenance Schedule starts every `MAINTENANCE_INTERVAL_SECONDS`.

It deletes idempotency keys older than their time to live and carts untouched for longer than theirs, in bounded
batches (one short transaction each, so neither a lock nor a transaction grows with the backlog), until a batch
comes back short or `MAX_BATCHES` ran. Deleting what is old is idempotent: a retried batch deletes nothing twice.
Keys live far longer than any client retries (24 hours by default), so a pruned key is one no
client will send again; should one come back anyway, the order it placed still answers for it (usecases/orders.py).
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from contracts.maintenance import Maintenance, MaintenanceSteps, PruneOlderThan

PruneStep = MethodAsyncSingleParam[MaintenanceSteps, PruneOlderThan, int]

BATCH_TIMEOUT = timedelta(seconds=30)
# Batches per kind and run: a backlog bigger than this is left to the next scheduled run, so a run's history
# stays small whatever the backlog.
MAX_BATCHES = 200
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn
class MaintenanceWorkflow:
    @workflow.run
    async def run(self, maintenance: Maintenance) -> dict[str, int]:
        """Prune keys, then carts; how many of each were deleted."""
        now = workflow.now()
        keys = await self._prune(
            MaintenanceSteps.prune_idempotency_keys,
            now - timedelta(hours=maintenance.idempotency_key_ttl_hours),
            maintenance.batch_size,
        )
        carts = await self._prune(
            MaintenanceSteps.prune_carts, now - timedelta(days=maintenance.cart_ttl_days), maintenance.batch_size
        )
        return {"idempotency_keys": keys, "carts": carts}

    async def _prune(self, step: PruneStep, before: datetime, limit: int) -> int:
        deleted = 0
        for _ in range(MAX_BATCHES):
            batch = await workflow.execute_activity_method(
                step,
                PruneOlderThan(before=before, limit=limit),
                start_to_close_timeout=BATCH_TIMEOUT,
                retry_policy=RETRY,
            )
            deleted += batch
            if batch < limit:
                break
        return deleted
