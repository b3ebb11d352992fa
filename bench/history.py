"""Where a run's time goes, read from workflow histories (server-side event times; no profiler needed).

For each activity type: time in the task queue (scheduled -> started) and running (started -> completed); for
workflow tasks: how many, and the same two times. A local activity leaves only a marker: its time is inside the
run time of the workflow task that ran it.
"""

from collections import defaultdict
from statistics import fmean

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the marker a local activity leaves in the history


class StepTimes(BaseModel):
    count: int  # over all the workflows read
    queue_ms: float  # mean scheduled -> started
    run_ms: float  # mean started -> completed


class Breakdown(BaseModel):
    workflows: int
    activities: dict[str, StepTimes]
    workflow_tasks: StepTimes
    local_activities: int  # markers recorded, over all the workflows read


def _ms(later: HistoryEvent, earlier: HistoryEvent) -> float:
    return (later.event_time.ToNanoseconds() - earlier.event_time.ToNanoseconds()) / 1e6


async def breakdown(client: Client, workflow_ids: list[str]) -> Breakdown:
    queue: dict[str, list[float]] = defaultdict(list)
    run: dict[str, list[float]] = defaultdict(list)
    wft_queue: list[float] = []
    wft_run: list[float] = []
    markers = 0
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        by_id = {event.event_id: event for event in history.events}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes
                scheduled = by_id[done.scheduled_event_id]
                started = by_id[done.started_event_id]
                name = scheduled.activity_task_scheduled_event_attributes.activity_type.name
                queue[name].append(_ms(started, scheduled))
                run[name].append(_ms(event, started))
            elif event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
                markers += 1  # a patch leaves a marker too: only local activities count
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                done_wft = event.workflow_task_completed_event_attributes
                scheduled = by_id[done_wft.scheduled_event_id]
                started = by_id[done_wft.started_event_id]
                wft_queue.append(_ms(started, scheduled))
                wft_run.append(_ms(event, started))
    return Breakdown(
        workflows=len(workflow_ids),
        activities={
            name: StepTimes(count=len(run[name]), queue_ms=fmean(queue[name]), run_ms=fmean(run[name]))
            for name in sorted(run)
        },
        workflow_tasks=StepTimes(
            count=len(wft_run),
            queue_ms=fmean(wft_queue) if wft_queue else 0.0,
            run_ms=fmean(wft_run) if wft_run else 0.0,
        ),
        local_activities=markers,
    )
