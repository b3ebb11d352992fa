"""How an order's run is started: update-with-start, so that placing is one round trip answered with the placed
order, and a retry with the same order id reaches the same run instead of starting another.

`POST /api/orders` starts every order's run with `order_start`; the bench's expiry storm does too, because it
promises orders placed exactly as the API places them, and its floor workflow takes the same kind of call
through `placing_start`.
"""

from typing import TypeVar

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.types import MethodAsyncSingleParam

from api import customers
from contracts.order import OrderOutcome, PlaceOrder
from stack.settings import Settings
from workflows.order import OrderWorkflow, workflow_id
from workflows.search_attributes import CUSTOMER_REF, ORDER_STATUS, run_summary

W = TypeVar("W")
In = TypeVar("In")
Out = TypeVar("Out")


def placing_start(
    run: MethodAsyncSingleParam[W, In, Out],
    arg: In,
    *,
    id: str,
    task_queue: str,
    customer_ref: str,
    summary: str | None = None,
) -> WithStartWorkflowOperation[W, Out]:
    """The start of a placing run, listed as `Placing` under the customer's `CustomerRef` until it says more."""
    return WithStartWorkflowOperation(
        run,
        arg,
        id=id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORDER_STATUS, "Placing"), SearchAttributePair(CUSTOMER_REF, customer_ref)]
        ),
        static_summary=summary,
    )


def order_start(order: PlaceOrder, settings: Settings) -> WithStartWorkflowOperation[OrderWorkflow, OrderOutcome]:
    """The start of `order`'s OrderWorkflow on the order workers' task queue."""
    return placing_start(
        OrderWorkflow.run,
        order,
        id=workflow_id(order.order_id),
        task_queue=settings.temporal_task_queue,
        customer_ref=customers.customer_ref(settings, order.customer_email),
        summary=run_summary(len(order.items)),
    )
