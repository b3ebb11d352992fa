"""The maintenance Schedule: Temporal starts `MaintenanceWorkflow` every `MAINTENANCE_INTERVAL_SECONDS`.

Every worker makes sure of it at start, idempotently: the first creates it, the others (and every restart) update
it to the settings they run with; `0` deletes it. One run at a time: a run still going when the next is due
makes the Schedule skip that one.
"""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts.maintenance import Maintenance
from stack.settings import Settings
from workflows.maintenance import MaintenanceWorkflow

SCHEDULE_ID = "orderflow-maintenance"


def maintenance_schedule(settings: Settings) -> Schedule:
    """The Schedule the settings ask for."""
    maintenance = Maintenance(
        idempotency_key_ttl_hours=settings.idempotency_key_ttl_hours, cart_ttl_days=settings.cart_ttl_days
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MaintenanceWorkflow.run, maintenance, id=SCHEDULE_ID, task_queue=settings.temporal_task_queue
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.maintenance_interval_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_maintenance_schedule(client: Client, settings: Settings) -> None:
    """Create the maintenance Schedule, or bring an existing one to these settings; delete it if they turn it off."""
    handle = client.get_schedule_handle(SCHEDULE_ID)
    if settings.maintenance_interval_seconds == 0:
        try:
            await handle.delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    schedule = maintenance_schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(updated)
