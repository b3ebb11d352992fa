"""How the API talks to order workflows: place an order, act on it, read it.

Every change to an order goes through its workflow (updates, so the caller gets the resulting order back). When
the workflow has already finished, its order is final: the same transition rules (`contracts.order.decide`) are
applied to the recorded status, so a repeat of an idempotent action still answers 200 and anything else gets
the contract's refusal.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import QueryRejectCondition
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from api.placing import order_start
from contracts.order import (
    ORDER_UNCHANGED,
    REFUSAL_CODES,
    TERMINAL_STATUSES,
    MarkPaid,
    OrderActionMessage,
    OrderDetails,
    OrderLineInput,
    OrderOutcome,
    OrderState,
    PaymentFailed,
    PlaceOrder,
    Rejection,
    Verdict,
    action_of,
    decide,
    refusal_message,
)
from services.errors import DomainError
from services.ordering.errors import OrderNotFoundError
from services.ordering.store import OrderingStore
from stack.db import reading
from stack.settings import Settings
from workflows.order import OrderWorkflow, workflow_id

ACTION_TIMEOUT = timedelta(seconds=30)
QUERY_TIMEOUT = timedelta(seconds=2)

T = TypeVar("T")
Row = TypeVar("Row")
M = TypeVar("M", bound=OrderActionMessage)
# An order action, as the workflow's update that asks for it (e.g. `OrderWorkflow.mark_paid`).
OrderUpdate = UpdateMethodMultiParam[[OrderWorkflow, M], OrderDetails]


class OrderActionTimeout(DomainError):
    """The workflow accepted the action but did not finish it in time; it goes on in the background."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            "order_action_pending",
            f"The order did not answer within {ACTION_TIMEOUT.seconds}s; the action is still in progress",
        )


class OrderPlacementFailed(DomainError):
    """Placing kept failing for a reason that is not the request's (a bug, a long outage) and was given up.

    Not sticky: a retry with the same Idempotency-Key places the order again, in a new run (see
    usecases/orders.py). `earlier` says the run had already given up before this request came.
    """

    status_code = 503

    def __init__(self, code: str, message: str, *, earlier: bool = False) -> None:
        super().__init__(code, message)
        self.earlier = earlier


PLACEMENT_FAILED = "order_placement_failed"
_PLACEMENT_FAILED_MESSAGE = "Placing the order kept failing and was given up; retry with the same Idempotency-Key"


# Codes whose message the workflow built from an exception: its text stays in the logs, not in the answer.
_STEP_FAILED = "order_step_failed"
_ACTION_FAILED = "order_action_failed"
_STEP_FAILED_MESSAGE = "A step of this action kept failing; the order is unchanged or finished by its workflow"


class OrderWorkflowNotRunning(DomainError):
    """The order's run ended abnormally (terminated, failed, timed out): nothing can act on the order any more."""

    status_code = 409

    def __init__(self, order_id: UUID) -> None:
        super().__init__(
            "order_workflow_not_running",
            f"Order '{order_id}' is not finished, but its workflow ended abnormally: an operator must look at it",
        )


def _rejected(code: str, message: str, *, earlier: bool = False) -> DomainError:
    if code == PLACEMENT_FAILED:
        return OrderPlacementFailed(code, _PLACEMENT_FAILED_MESSAGE, earlier=earlier)
    if code in (_STEP_FAILED, _ACTION_FAILED):
        return DomainError(code, _STEP_FAILED_MESSAGE)
    return DomainError(code, message)


def _refusal(error: WorkflowUpdateFailedError) -> DomainError:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return _rejected(cause.type, cause.message)
    return _rejected(_ACTION_FAILED, "")


def unchanged_order(error: WorkflowUpdateFailedError) -> OrderDetails | None:
    """The order carried by an update the run rejected because it would change nothing (the contract's 200)."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == ORDER_UNCHANGED and cause.details:
        return OrderDetails.model_validate(cause.details[0])
    return None


def _closed_or_missing(error: RPCError) -> bool:
    return error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)


@dataclass
class OrderWorkflows:
    client: Client
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]

    def handle(self, order_id: UUID) -> WorkflowHandle[OrderWorkflow, OrderOutcome]:
        return self.client.get_workflow_handle_for(OrderWorkflow.run, workflow_id(order_id))

    async def place(
        self, order_id: UUID, customer_name: str, customer_email: str, items: list[OrderLineInput]
    ) -> OrderDetails:
        """Start the order's workflow and wait until the order is placed (or refused with a contract code)."""
        order = PlaceOrder(
            order_id=order_id,
            customer_name=customer_name,
            customer_email=customer_email,
            items=items,
            payment_timeout_seconds=self.settings.payment_timeout_seconds,
        )
        start = order_start(order, self.settings)
        try:
            return await self._bounded(
                self.client.execute_update_with_start_workflow(
                    OrderWorkflow.wait_placed, start_workflow_operation=start
                )
            )
        except WorkflowUpdateFailedError as error:
            placed = unchanged_order(error)  # a repeat: answered from the run's state, not written to its history
            if placed is not None:
                return placed
            raise _refusal(error) from error
        except WorkflowAlreadyStartedError:
            # A retry (same Idempotency-Key) of an order whose workflow has already finished.
            return await self._finished_placement(order_id)

    async def _finished_placement(self, order_id: UUID) -> OrderDetails:
        stored = await self._stored(order_id)
        if stored is not None:
            return stored
        try:
            outcome = await self.handle(order_id).result()
        except WorkflowFailureError as error:
            # the run ended abnormally (terminated, failed, timed out) before the order was recorded
            raise OrderPlacementFailed(PLACEMENT_FAILED, _PLACEMENT_FAILED_MESSAGE, earlier=True) from error
        rejection = outcome.rejection
        if rejection is None:
            raise OrderNotFoundError()
        raise _rejected(rejection.code, rejection.message, earlier=True)

    async def act(
        self, order_id: UUID, update: OrderUpdate[M], message: M, *, update_id: str | None = None
    ) -> OrderDetails:
        """Apply an action through the order's workflow and return the order as it is afterwards.

        With an `update_id` (from an Idempotency-Key), a retry of an action Temporal has already seen gets that
        action's outcome, even once the run has finished, instead of acting again.
        """
        try:
            return await self._bounded(self.handle(order_id).execute_update(update, message, id=update_id))
        except WorkflowUpdateFailedError as error:
            current = unchanged_order(error)  # a no-op: answered from the run's state, not written to its history
            if current is not None:
                return current
            raise _refusal(error) from error
        except RPCError as error:
            if not _closed_or_missing(error):
                raise
        return await self._act_on_finished(order_id, message)

    async def outcome_of(self, order_id: UUID, update: OrderUpdate[M], update_id: str) -> OrderDetails | None:
        """The outcome of the order's update `update_id` if Temporal has seen it (its refusal raised), else None."""
        handle = self.handle(order_id).get_update_handle_for(update, update_id)
        try:
            return await self._bounded(handle.result(rpc_timeout=QUERY_TIMEOUT))
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def act_then_settle(
        self,
        order_id: UUID,
        update: OrderUpdate[M],
        message: M,
        *,
        settled: Callable[[AsyncSession], Awaitable[Row | None]],
        settle: Callable[[AsyncSession], Awaitable[Row]],
        update_id: str | None = None,
    ) -> Row:
        """Act on the order for a payment or shipment row, and return that row once it is settled.

        The workflow settles the row in the same step (the payment succeeds, the shipment ships), so `settled`
        finds it. An order whose run had already finished (a second payment or shipment of a shipped order, as
        the seed allows) settles nothing: `settle` does it here, in its own unit of work.
        """
        await self.act(order_id, update, message, update_id=update_id)
        async with reading(self.sessionmaker) as session:
            row = await settled(session)
        if row is not None:
            return row
        return await self.write(settle)

    async def read(self, query: Callable[[AsyncSession], Awaitable[Row]]) -> Row:
        """One read before acting, its connection given back before the workflow is waited on."""
        async with reading(self.sessionmaker) as session:
            return await query(session)

    async def write(self, work: Callable[[AsyncSession], Awaitable[Row]]) -> Row:
        """One unit of work, committed before the workflow is told or waited on."""
        async with self.sessionmaker.begin() as session:
            return await work(session)

    async def _act_on_finished(self, order_id: UUID, message: OrderActionMessage) -> OrderDetails:
        """The answer for an order whose workflow has finished: its status is final."""
        action = action_of(message)
        stored = await self._stored(order_id)
        if stored is None:
            raise OrderNotFoundError()
        if stored.status not in TERMINAL_STATUSES:
            # the run is closed but the order is not finished: the run was terminated, failed or timed out
            raise OrderWorkflowNotRunning(order_id)
        if decide(action, stored.status) is Verdict.REFUSE:
            raise DomainError(REFUSAL_CODES[action], refusal_message(action, stored.status))
        return stored

    async def details(self, order_id: UUID) -> OrderDetails | None:
        """The order: live from its running workflow, or as recorded once the run has finished."""
        stored = await self._stored(order_id)
        if stored is None or stored.status in TERMINAL_STATUSES:
            return stored
        query = self.handle(order_id).query(
            OrderWorkflow.details, reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
        )
        try:
            # Bounded as a whole: while Temporal is unreachable the client keeps reconnecting past rpc_timeout.
            live = await asyncio.wait_for(query, QUERY_TIMEOUT.total_seconds())
        except (RPCError, WorkflowQueryRejectedError, TimeoutError):
            return stored  # the recorded order is a correct, possibly slightly older, answer
        return live if live is not None else stored

    async def state(self, order_id: UUID) -> OrderState | None:
        """Live state of the order's workflow, or None when there is no such run."""
        try:
            state = await self.handle(order_id).query(OrderWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        if state.rejection is not None:  # a message the workflow built from an exception stays in its history
            rejected = _rejected(state.rejection.code, state.rejection.message)
            state = state.model_copy(update={"rejection": Rejection(code=rejected.code, message=rejected.message)})
        return state

    async def signal_payment_failed(self, order_id: UUID, payment_id: UUID, reason: str | None) -> None:
        """Tell a running order that one of its payments failed; nothing to tell a finished or unknown one."""
        try:
            await self.handle(order_id).signal(
                OrderWorkflow.payment_failed, PaymentFailed(payment_id=payment_id, failure_reason=reason)
            )
        except RPCError as error:
            if not _closed_or_missing(error):
                raise

    async def signal_payment_authorized(self, order_id: UUID, payment_id: UUID) -> bool:
        """Tell a running order that a provider reports one of its payments authorized (the run re-reads it);
        False when its run has finished (or there is none): nothing is left to tell."""
        try:
            await self.handle(order_id).signal(
                OrderWorkflow.payment_succeeded, MarkPaid(payment_id=payment_id, authorized=True)
            )
        except RPCError as error:
            if not _closed_or_missing(error):
                raise
            return False
        return True

    async def _stored(self, order_id: UUID) -> OrderDetails | None:
        return await self.read(lambda session: OrderingStore(session).get(order_id))

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, ACTION_TIMEOUT.total_seconds())
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
            raise OrderActionTimeout() from error
