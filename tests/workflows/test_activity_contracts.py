"""The real activities and the test stand-ins implement the same interfaces (contracts.activities): the same
activity names, the same argument and result types. A stand-in that drifted from the real activity would let
the workflow tests pass against a world that does not exist.
"""

import inspect
import typing
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from activities import IMPLEMENTATIONS, build_activities
from contracts.activities import ACTIVITY_CONTRACTS, ActivityContract, InventorySteps, activity_name
from contracts.order import Reservations
from tests.fake_provider import FakeProvider
from tests.workflows.fakes import STAND_INS, FakeWorld


def _signature(method: Callable[..., Any]) -> tuple[list[object], object]:
    """Argument types (without self) and result type of a method, by position: parameter names may differ."""
    hints = typing.get_type_hints(method)
    parameters = [name for name in inspect.signature(method).parameters if name != "self"]
    return [hints[name] for name in parameters], hints["return"]


def _contract_of(implementation: Callable[..., ActivityContract]) -> type[ActivityContract]:
    assert isinstance(implementation, type)
    contracts = [contract for contract in ACTIVITY_CONTRACTS if issubclass(implementation, contract)]
    assert len(contracts) == 1, f"{implementation.__name__} implements {contracts}"
    return contracts[0]


def _declared_activities() -> list[str]:
    return [activity_name(getattr(c, method)) for c in ACTIVITY_CONTRACTS for method in c.activity_names]


@pytest.mark.parametrize("implementations", [IMPLEMENTATIONS, STAND_INS], ids=["activities", "fakes"])
def test_every_contract_has_one_implementation(implementations: tuple[Callable[..., ActivityContract], ...]) -> None:
    assert sorted(_contract_of(i).__name__ for i in implementations) == sorted(c.__name__ for c in ACTIVITY_CONTRACTS)


@pytest.mark.parametrize("implementation", [*IMPLEMENTATIONS, *STAND_INS], ids=lambda i: getattr(i, "__name__", ""))
def test_implementation_has_the_contract_names_and_types(implementation: Callable[..., ActivityContract]) -> None:
    contract = _contract_of(implementation)
    assert contract.activity_names
    for method, name in contract.activity_names.items():
        declared = getattr(contract, method)
        implemented = getattr(implementation, method)
        assert implemented is not declared, f"{method} is not implemented"
        assert activity_name(implemented) == activity_name(declared) == name
        assert _signature(implemented) == _signature(declared), f"{getattr(implementation, '__name__', '')}.{method}"


def test_worker_and_fakes_register_every_declared_activity_once() -> None:
    declared = _declared_activities()
    assert len(set(declared)) == len(declared) == 15
    worker = [activity_name(step) for step in build_activities(async_sessionmaker(), FakeProvider(), timedelta(days=7))]
    fakes = [activity_name(step) for step in FakeWorld().activities()]
    assert sorted(worker) == sorted(fakes) == sorted(declared)


def test_activity_names_are_those_of_the_recorded_histories() -> None:
    """Renaming an activity breaks every open order's replay: the names are part of the contract."""
    assert sorted(_declared_activities()) == sorted(
        [
            "catalog.load_snapshots",
            "inventory.allocate",
            "inventory.release_by_keys",
            "inventory.commit",
            "ordering.record_order",
            "ordering.record_status",
            "ordering.void",
            "payment.mark_succeeded",
            "payment.cancel_pending",
            "payment.refund",
            "payment.secure",
            "payment.capture",
            "payment.reconcile",
            "fulfillment.mark_shipped",
            "fulfillment.cancel_pending",
        ]
    )


def test_an_implementation_cannot_rename_an_activity() -> None:
    with pytest.raises(TypeError, match="inventory.commit"):

        class Renamed(InventorySteps):  # noqa: F841 - refused at class creation
            @activity.defn(name="inventory.consume")
            async def commit(self, request: Reservations) -> None: ...


def test_an_implementation_missing_an_activity_cannot_be_built() -> None:
    class Partial(InventorySteps):
        async def commit(self, request: Reservations) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]
