"""Workflows: pure orchestration. They import only temporalio, the stdlib and `contracts`."""

from workflows.maintenance import MaintenanceWorkflow
from workflows.order import OrderWorkflow
from workflows.reconcile import ReconcileWorkflow

WORKFLOWS: list[type] = [OrderWorkflow, ReconcileWorkflow, MaintenanceWorkflow]
