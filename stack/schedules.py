"""Temporal Schedules the worker keeps: each one a workflow started every N seconds, one run at a time.

Every worker makes sure of them at start, idempotently: the first creates a Schedule, the others (and every
restart) bring it to the settings they run with, and an interval of 0 deletes it. A run still going when the next
is due makes the Schedule skip that one.
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


def every(action: ScheduleActionStartWorkflow, seconds: int) -> Schedule:
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, schedule_id: str, action: ScheduleActionStartWorkflow, seconds: int) -> None:
    """Create the Schedule that starts `action` every `seconds`, or bring an existing one to it; 0 deletes it."""
    handle = client.get_schedule_handle(schedule_id)
    if seconds == 0:
        try:
            await handle.delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    schedule = every(action, seconds)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(updated)
