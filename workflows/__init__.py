"""Workflows: pure orchestration. They import only temporalio, the stdlib and `contracts`."""

from workflows.order import OrderWorkflow

WORKFLOWS: list[type] = [OrderWorkflow]
