"""The maintenance workflow's input and activities: what a Temporal Schedule runs to keep storage bounded."""

from abc import abstractmethod
from datetime import datetime

from temporalio import activity

from contracts.activities import ActivityContract
from contracts.wire import WireModel


class Maintenance(WireModel):
    """One maintenance run: what is old enough to go, and how much one activity deletes at most."""

    idempotency_key_ttl_hours: int
    cart_ttl_days: int
    batch_size: int = 500


class PruneOlderThan(WireModel):
    """Delete at most `limit` rows older than `before`; the activity answers how many it deleted."""

    before: datetime
    limit: int


class MaintenanceSteps(ActivityContract):
    @activity.defn(name="maintenance.prune_idempotency_keys")
    @abstractmethod
    async def prune_idempotency_keys(self, request: PruneOlderThan) -> int:
        """Forget idempotency keys first used before `before`; how many were deleted."""

    @activity.defn(name="maintenance.prune_carts")
    @abstractmethod
    async def prune_carts(self, request: PruneOlderThan) -> int:
        """Delete carts (with their lines) last changed before `before`; how many were deleted."""
