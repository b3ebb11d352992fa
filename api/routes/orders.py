"""Routes of the orders resource (contract section 5), plus checkout of a cart.

Reads come from the ordering store (or the running workflow); every change goes through the order's workflow.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Response, status

from api.auth import OPERATOR
from api.deps import Orders, Page, ReadSession
from api.errors import responses
from api.order_workflows import order_id_for
from api.paging import paged_responses
from contracts.order import CancelOrder, ExpireOrder, MarkPaid, MarkShipped, OrderDetails, OrderState
from services.cart.errors import CartNotFoundError
from services.cart.store import CartStore
from services.ordering.errors import OrderNotFoundError
from services.ordering.rules import check_create_order
from services.ordering.schemas import CreateOrderItemRequest, CreateOrderRequest, OrderListItemDto
from services.ordering.store import OrderingStore
from services.schemas import RequestModel
from workflows.order import OrderWorkflow

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["orders"], responses=responses(503))

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying with the same key returns the same order instead of placing a second one.",
    ),
]


class CheckoutRequest(RequestModel):
    customer_name: str | None = None
    customer_email: str | None = None


@router.get("/api/orders", responses=paged_responses(), dependencies=[OPERATOR])
async def list_orders(session: ReadSession, page: Page) -> list[OrderListItemDto]:
    """The orders, newest first, a page at a time."""
    return page.answer(await OrderingStore(session).list(page.request))


@router.get("/api/orders/{order_id}", responses=responses(404))
async def get_order(order_id: UUID, orders: Orders) -> OrderDetails:
    order = await orders.details(order_id)
    if order is None:
        raise OrderNotFoundError(read=True)
    return order


@router.get("/api/orders/{order_id}/workflow", responses=responses(404), dependencies=[OPERATOR])
async def get_order_workflow_state(order_id: UUID, orders: Orders) -> OrderState:
    """Live state of the order's workflow (payment deadline, compensations), while it runs."""
    state = await orders.state(order_id)
    if state is None:
        raise OrderNotFoundError(read=True)
    return state


async def _place(orders: Orders, request: CreateOrderRequest, key: str | None, response: Response) -> OrderDetails:
    valid = check_create_order(request)
    order = await orders.place(order_id_for(key), valid.customer_name, valid.customer_email, valid.items)
    response.headers["Location"] = f"/api/orders/{order.id}"
    return order


@router.post("/api/orders", responses=responses(400, 415), status_code=status.HTTP_201_CREATED)
async def create_order(
    body: CreateOrderRequest, orders: Orders, response: Response, idempotency_key: IdempotencyKey = None
) -> OrderDetails:
    """Place an order: snapshots from the catalog, stock reserved, status PendingPayment."""
    return await _place(orders, body, idempotency_key, response)


@router.post("/api/carts/{cart_id}/checkout", responses=responses(400, 404, 415), status_code=status.HTTP_201_CREATED)
async def checkout_cart(
    cart_id: UUID,
    body: CheckoutRequest,
    orders: Orders,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderDetails:
    """Turn a cart into an order, then empty the cart. Checking out the same cart contents twice places one order."""
    cart = await orders.read(lambda session: CartStore(session).get(cart_id))
    if cart is None:
        raise CartNotFoundError(cart_id)
    request = CreateOrderRequest(
        customer_name=body.customer_name,
        customer_email=body.customer_email,
        items=[
            CreateOrderItemRequest(product_variant_id=item.product_variant_id, quantity=item.quantity)
            for item in cart.items
        ],
    )
    key = idempotency_key or f"checkout:{cart.id}:{cart.updated_at.isoformat()}"
    order = await _place(orders, request, key, response)
    await orders.write(lambda session: CartStore(session).clear(cart_id))
    return order


@router.post("/api/orders/{order_id}/cancel", responses=responses(400, 404))
async def cancel_order(order_id: UUID, orders: Orders) -> OrderDetails:
    """PendingPayment or Paid (not shipped) -> Cancelled: stock released, payments refunded."""
    return await orders.act(order_id, OrderWorkflow.cancel, CancelOrder())


@router.post("/api/orders/{order_id}/expire", responses=responses(400, 404), dependencies=[OPERATOR])
async def expire_order(order_id: UUID, orders: Orders) -> OrderDetails:
    """PendingPayment -> Expired: stock released. Expiring an expired order is a no-op."""
    return await orders.act(order_id, OrderWorkflow.expire, ExpireOrder(reason="operator"))


@router.post("/api/orders/{order_id}/mark-paid", responses=responses(400, 404), dependencies=[OPERATOR])
async def mark_order_paid(order_id: UUID, orders: Orders) -> OrderDetails:
    """PendingPayment -> Paid; stock stays reserved. A no-op on Paid and Shipped orders."""
    return await orders.act(order_id, OrderWorkflow.mark_paid, MarkPaid())


@router.post("/api/orders/{order_id}/mark-shipped", responses=responses(400, 404), dependencies=[OPERATOR])
async def mark_order_shipped(order_id: UUID, orders: Orders) -> OrderDetails:
    """Paid -> Shipped: every reservation is committed. A no-op on Shipped orders."""
    return await orders.act(order_id, OrderWorkflow.mark_shipped, MarkShipped())
