"""How the API talks to order workflows: place an order, act on it, read it.

Every change to an order goes through its workflow (updates, so the caller gets the resulting order back). When
the workflow has already finished, its order is final: the same transition rules (`contracts.order.decide`) are
applied to the recorded status, so a repeat of an idempotent action still answers 200 and anything else gets
the contract's refusal.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
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
    OrderActionMessage,
    OrderDetails,
    OrderLineInput,
    OrderOutcome,
    OrderState,
    PaymentFailed,
    PlaceOrder,
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

# Orders placed with the same Idempotency-Key get the same order id, hence the same workflow id.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a59-3f0e-4d8a-9a57-1d2f4c8b7e10")
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


def order_id_for(idempotency_key: str | None) -> UUID:
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key) if idempotency_key else uuid.uuid4()


class OrderPlacementFailed(DomainError):
    """Placing kept failing for a reason that is not the request's (a bug, a long outage) and was given up."""

    status_code = 503


def _rejected(code: str, message: str) -> DomainError:
    return OrderPlacementFailed(code, message) if code == "order_placement_failed" else DomainError(code, message)


def _refusal(error: WorkflowUpdateFailedError) -> DomainError:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return _rejected(cause.type, cause.message)
    return DomainError("order_action_failed", str(cause or error))


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
        outcome = await self.handle(order_id).result()
        rejection = outcome.rejection
        if rejection is None:
            raise OrderNotFoundError()
        raise _rejected(rejection.code, rejection.message)

    async def act(self, order_id: UUID, update: OrderUpdate[M], message: M) -> OrderDetails:
        """Apply an action through the order's workflow and return the order as it is afterwards."""
        try:
            return await self._bounded(self.handle(order_id).execute_update(update, message))
        except WorkflowUpdateFailedError as error:
            current = unchanged_order(error)  # a no-op: answered from the run's state, not written to its history
            if current is not None:
                return current
            raise _refusal(error) from error
        except RPCError as error:
            if not _closed_or_missing(error):
                raise
        return await self._act_on_finished(order_id, message)

    async def act_then_settle(
        self,
        order_id: UUID,
        update: OrderUpdate[M],
        message: M,
        *,
        settled: Callable[[AsyncSession], Awaitable[Row | None]],
        settle: Callable[[AsyncSession], Awaitable[Row]],
    ) -> Row:
        """Act on the order for a payment or shipment row, and return that row once it is settled.

        The workflow settles the row in the same step (the payment succeeds, the shipment ships), so `settled`
        finds it. An order whose run had already finished (a second payment or shipment of a shipped order, as
        the seed allows) settles nothing: `settle` does it here, in its own unit of work.
        """
        await self.act(order_id, update, message)
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
            return await self.handle(order_id).query(OrderWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def signal_payment_failed(self, order_id: UUID, payment_id: UUID, reason: str | None) -> None:
        """Tell a running order that one of its payments failed; nothing to tell a finished or unknown one."""
        try:
            await self.handle(order_id).signal(
                OrderWorkflow.payment_failed, PaymentFailed(payment_id=payment_id, failure_reason=reason)
            )
        except RPCError as error:
            if not _closed_or_missing(error):
                raise

    async def _stored(self, order_id: UUID) -> OrderDetails | None:
        return await self.read(lambda session: OrderingStore(session).get(order_id))

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, ACTION_TIMEOUT.total_seconds())
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
            raise OrderActionTimeout() from error
