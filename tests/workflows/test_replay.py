"""Recorded histories of the main scenarios replay against today's OrderWorkflow.

A change that would make in-flight orders fail with a non-determinism error fails here first.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from stack.temporal import data_converter
from tests.conftest import secret_settings
from tests.workflows.record_histories import HISTORIES, SCENARIOS
from workflows.order import OrderWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in RECORDED} == set(SCENARIOS)


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    # the project's converter: payloads recorded before encryption still decode (the codec passes them through)
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=data_converter(secret_settings()))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
