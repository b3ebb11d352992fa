"""The order workflow's plumbing: how a step runs (local or ordinary activity, retries) and how the actions that
callers send wait in turn to be served. The lifecycle itself, which step when, is `workflows/order.py`.

Deterministic like the workflow that composes it: only temporalio, the stdlib and `contracts`.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from contracts.order import OrderActionMessage, Rejection

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Infrastructure failures (database restarting, worker crash) are retried until they succeed; domain refusals
# are raised as non-retryable errors by the activities and end the step at once.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)

_Steps = TypeVar("_Steps")
_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")
# An activity, as a method of its interface in contracts.activities (e.g. `InventorySteps.allocate`).
Step = Callable[[_Steps, _Arg], Awaitable[_Result]]


class Steps:
    """Runs the workflow's steps, each one short PostgreSQL transaction, as local activities where that is safe.

    A local activity runs in this worker, without a task-queue round trip. That is safe once what the step acts
    on is in the history: a run's start (placing: a replay runs the idempotent steps again and a client retry
    rejoins by order id), an action durably accepted, a fired payment timer. It is not for the first step of an
    action that answers an update: an update is durable only once the workflow task that accepted it completes,
    while a local activity commits inside that task, so if Temporal restarted in between, the database would say
    Paid while the run never heard of the payment. An ordinary activity is scheduled only by a completed task, so
    once it has run, the accepted action is in the history and its other steps can be local.
    """

    def __init__(self) -> None:
        self._in_history = True  # a run's start is in the history before its first step

    def next_action(self) -> None:
        """What follows serves an action that may not be in the history yet: its first step is ordinary."""
        self._in_history = False

    def in_history(self) -> None:
        """What follows acts on something already in the history (a fired timer): every step may be local."""
        self._in_history = True

    async def run(self, step: Step[_Steps, _Arg, _Result], arg: _Arg, *, attempts: int = 0) -> _Result:
        """Run one step, retried until it succeeds or is refused, or runs out of `attempts` (0: no limit)."""
        retry_policy = replace(ACTIVITY_RETRY, maximum_attempts=attempts)
        # A run cancelled from Temporal waits for the step in flight to end before it compensates, or a payment
        # could succeed after the refunds ran.
        cancellation = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        if self._in_history:
            return await workflow.execute_local_activity_method(
                step,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=retry_policy,
                cancellation_type=cancellation,
            )
        result = await workflow.execute_activity_method(
            step,
            arg,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=retry_policy,
            cancellation_type=cancellation,
        )
        self._in_history = True
        return result

    async def run_placing(self, step: Step[_Steps, _Arg, _Result], arg: _Arg, attempts: int) -> _Result:
        """A step of placing: ends at once if refused, else is retried until it runs out of `attempts`."""
        try:
            return await self.run(step, arg, attempts=attempts)
        except (ActivityError, ApplicationError) as error:
            cause = error.cause if isinstance(error, ActivityError) else error
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                raise  # a refusal: its code is the answer
            raise ApplicationError(
                f"Placing the order kept failing: {cause}", type="order_placement_failed", non_retryable=True
            ) from error


@dataclass
class _Request:
    """An action waiting for the run to serve it; an update waits for `done`, a signal does not."""

    message: OrderActionMessage
    done: bool = False
    error: ApplicationError | None = None


class ActionQueue:
    """The actions sent to the run (updates and signals), served one at a time in the order they arrived.

    `serve` is the lifecycle's handler of one action; a refusal it raises becomes the update's answer (its
    contract error code), anything else fails the workflow task as usual.
    """

    def __init__(self, serve: Callable[[OrderActionMessage], Awaitable[None]], steps: Steps) -> None:
        self._serve = serve
        self._steps = steps
        self._waiting: list[_Request] = []
        self._serving: _Request | None = None

    @property
    def waiting(self) -> bool:
        return bool(self._waiting)

    @property
    def busy(self) -> bool:
        """An action waits or is being served: it may change what the next one finds."""
        return bool(self._waiting) or self._serving is not None

    async def submit(self, message: OrderActionMessage) -> None:
        """Queue an update's action and wait until it is served; its refusal is raised here."""
        request = _Request(message)
        self._waiting.append(request)
        await workflow.wait_condition(lambda: request.done)
        if request.error is not None:
            raise request.error

    def enqueue(self, message: OrderActionMessage) -> None:
        """Queue a signal's action: nobody waits for it."""
        self._waiting.append(_Request(message))

    async def wait(self, wake: Callable[[], bool], deadline: datetime | None) -> bool:
        """Wait for an action (or `wake()`); False when `deadline` passes first and no action waits."""
        timeout: timedelta | None = None
        if deadline is not None:
            timeout = deadline - workflow.now()
            if timeout <= timedelta(0):
                return self.waiting
        try:
            await workflow.wait_condition(lambda: self.waiting or wake(), timeout=timeout)
        except TimeoutError:
            return False
        return True

    async def serve_next(self) -> None:
        """Serve the action that waited longest, as a new action (see Steps)."""
        request = self._waiting.pop(0)
        self._serving = request
        try:
            self._steps.next_action()
            try:
                await self._serve(request.message)
            except (ActivityError, ApplicationError) as error:
                rejection = rejection_of(error)
                request.error = ApplicationError(rejection.message, type=rejection.code, non_retryable=True)
            request.done = True
        finally:
            self._serving = None

    def may_continue_as_new(self) -> bool:
        """Temporal suggests a new run (the history grew long) and nothing is in flight that would be lost."""
        return workflow.info().is_continue_as_new_suggested() and not self.busy and workflow.all_handlers_finished()


def count(event: str, **attributes: str) -> None:
    """Order lifecycle counter (`orderflow_order_events`), exported by the worker; not counted again on replay."""
    workflow.metric_meter().create_counter(
        "orderflow_order_events", "Order lifecycle events: placed, rejected, paid, shipped, ..."
    ).add(1, {"event": event, **attributes})


def rejection_of(error: ActivityError | ApplicationError) -> Rejection:
    """The contract error code and message behind a failed step."""
    cause: BaseException | None = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type:
        return Rejection(code=cause.type, message=cause.message)
    return Rejection(code="order_step_failed", message=str(cause or error))
