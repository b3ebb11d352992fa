"""Workflows: pure orchestration. They import only temporalio, the stdlib and `contracts`."""

from workflows.maintenance import MaintenanceWorkflow
from workflows.order import OrderWorkflow

WORKFLOWS: list[type] = [OrderWorkflow, MaintenanceWorkflow]
