"""The engine's floor: the project's own `OrderWorkflow` on activities that do nothing, in a process of its own
(`python -m bench.floor`, started beside `python worker.py` with the same settings, data converter and event loop).

The no-op activities are built from the activity contracts (contracts/activities.py), as the workflow tests' fakes
are: every contract method answers the smallest valid result, so whatever the workflow becomes, the floor is the
same workflow, and only the work of the steps is missing. The process serves one task queue per step mode:

- `durable`: the workflow as written (its own rule: placing local, an action's first step an ordinary activity,
  the rest local): what the project's lifecycle costs Temporal and the worker when the steps cost nothing;
- `activity`: every step an ordinary activity; `local`: every step a local activity. A worker interceptor turns
  one kind of activity call into the other, so the same workflow code shows what its rule saves (against
  `activity`) and what it spends on durability (against `local`).
"""

import asyncio
import dataclasses
import logging
import signal
import typing
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from enum import StrEnum
from typing import Any

import uvloop
from temporalio.common import Priority
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from contracts.activities import (
    ACTIVITY_CONTRACTS,
    ActivityContract,
    CatalogSteps,
    InventorySteps,
    PaymentSteps,
    bound_activities,
)
from contracts.order import (
    AllocateStock,
    IntentHint,
    LoadSnapshots,
    PaymentSecured,
    ReconcileIntents,
    SecurePayment,
    VariantSnapshot,
)
from stack import temporal
from stack.settings import Settings
from workflows.order import OrderWorkflow

GRACEFUL_SHUTDOWN = timedelta(seconds=10)  # as worker.py's (not imported: that would load SQLAlchemy here too)

log = logging.getLogger("bench.floor")


class StepMode(StrEnum):
    ACTIVITY = "activity"  # every step an ordinary activity
    LOCAL = "local"  # every step a local activity
    DURABLE = "durable"  # the workflow's own rule


def task_queue(base: str, mode: StepMode) -> str:
    return f"{base}-{mode}"


# --- no-op activities --------------------------------------------------------------------------------


async def _snapshots(request: LoadSnapshots) -> list[VariantSnapshot]:
    return [
        VariantSnapshot(product_id=variant, product_variant_id=variant, sku=f"FLOOR-{n}", product_name="Floor",
                        variant_name="Default", price_amount_minor=1000, currency="USD")
        for n, variant in enumerate(request.variant_ids)
    ]  # fmt: skip


async def _reservations(request: AllocateStock) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in request.lines]


async def _not_secured(request: SecurePayment) -> PaymentSecured:
    return PaymentSecured(secured=False)  # the floor is paid by mark_paid: no provider's authorization


async def _no_hints(request: ReconcileIntents) -> list[IntentHint]:
    return []


# The steps whose answer the workflow reads item by item; every other step answers None or a count (0).
ANSWERS: dict[Callable[..., Any], Callable[[Any], Any]] = {
    CatalogSteps.load_snapshots: _snapshots,
    InventorySteps.allocate: _reservations,
    PaymentSteps.secure: _not_secured,
    PaymentSteps.reconcile: _no_hints,
}
_EMPTY: dict[object, object] = {type(None): None, int: 0}


def _no_op(contract: type[ActivityContract], method: str) -> Callable[..., Any]:
    declared = getattr(contract, method)
    hints = typing.get_type_hints(declared)  # the worker reads the argument's type from them
    answer = ANSWERS.get(declared)
    if answer is None and hints["return"] not in _EMPTY:
        raise TypeError(f"{contract.__name__}.{method} returns {hints['return']}: give the floor an answer in ANSWERS")

    async def step(self: ActivityContract, request: Any) -> Any:
        return _EMPTY[hints["return"]] if answer is None else await answer(request)

    step.__annotations__ = hints
    return step


def no_op_activities() -> list[Callable[..., Any]]:
    """A no-op implementation of every activity of ACTIVITY_CONTRACTS, registered under the contracts' names."""
    implementations = [
        type(f"NoOp{contract.__name__}", (contract,), {m: _no_op(contract, m) for m in contract.activity_names})()
        for contract in ACTIVITY_CONTRACTS
    ]
    return [step for implementation in implementations for step in bound_activities(implementation)]


# --- step modes --------------------------------------------------------------------------------------


class _Outbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, local: bool) -> None:
        super().__init__(next)
        self._local = local

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        if not self._local:
            return self.next.start_activity(input)
        return self.next.start_local_activity(_convert(input, StartLocalActivityInput, local_retry_threshold=None))

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        if self._local:
            return self.next.start_local_activity(input)
        ordinary = {"task_queue": None, "heartbeat_timeout": None, "disable_eager_execution": False,
                    "versioning_intent": None, "priority": Priority.default}  # fmt: skip
        return self.next.start_activity(_convert(input, StartActivityInput, **ordinary))


_Input = typing.TypeVar("_Input")


def _convert(source: object, target: type[_Input], **missing: Any) -> _Input:
    """The same call as the other kind of activity: every field they share, and `missing` for the rest."""
    fields = dataclasses.fields(typing.cast(Any, target))
    shared = {field.name: getattr(source, field.name) for field in fields if hasattr(source, field.name)}
    return target(**shared, **missing)


class StepModeInterceptor(Interceptor):
    """Every activity call of a workflow becomes an ordinary (`local=False`) or a local (`local=True`) one."""

    def __init__(self, local: bool) -> None:
        self.local = local

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        local = self.local

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Outbound(outbound, local))

        return Inbound


INTERCEPTORS: dict[StepMode, list[Interceptor]] = {
    StepMode.ACTIVITY: [StepModeInterceptor(local=False)],
    StepMode.LOCAL: [StepModeInterceptor(local=True)],
    StepMode.DURABLE: [],
}


# --- the process -------------------------------------------------------------------------------------


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    client = await temporal.connect(settings)
    activities = no_op_activities()
    workers = [
        Worker(client, task_queue=task_queue(settings.temporal_task_queue, mode), workflows=[OrderWorkflow],
               activities=activities, interceptors=interceptors, graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
               max_cached_workflows=settings.max_cached_workflows)
        for mode, interceptors in INTERCEPTORS.items()
    ]  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("floor worker polling %s-{%s}", settings.temporal_task_queue, ",".join(StepMode))
    async with AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        await stop.wait()


if __name__ == "__main__":
    uvloop.run(main())  # as worker.py
