"""The maintenance Schedule: Temporal starts `MaintenanceWorkflow` every `MAINTENANCE_INTERVAL_SECONDS` (`0` turns
it off); kept by every worker at start (stack/schedules.py)."""

from temporalio.client import Client, ScheduleActionStartWorkflow

from contracts.maintenance import Maintenance
from stack.schedules import ensure_schedule
from stack.settings import Settings
from workflows.maintenance import MaintenanceWorkflow

SCHEDULE_ID = "orderflow-maintenance"


async def ensure_maintenance_schedule(client: Client, settings: Settings) -> None:
    """Create the maintenance Schedule, or bring an existing one to these settings; delete it if they turn it off."""
    maintenance = Maintenance(
        idempotency_key_ttl_hours=settings.idempotency_key_ttl_hours, cart_ttl_days=settings.cart_ttl_days
    )
    action = ScheduleActionStartWorkflow(
        MaintenanceWorkflow.run, maintenance, id=SCHEDULE_ID, task_queue=settings.temporal_task_queue
    )
    await ensure_schedule(client, SCHEDULE_ID, action, settings.maintenance_interval_seconds)
