"""Workflows: pure orchestration. They import only temporalio, the stdlib and `contracts`."""

WORKFLOWS: list[type] = []
