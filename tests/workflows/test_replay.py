"""Recorded histories of the main scenarios replay against today's OrderWorkflow.

A change that would make in-flight orders fail with a non-determinism error fails here first.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.record_histories import HISTORIES, SCENARIOS
from workflows.order import OrderWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in RECORDED} == set(SCENARIOS)


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
