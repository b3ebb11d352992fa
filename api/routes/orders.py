"""Routes of the orders resource (contract section 5), plus checkout of a cart.

Reads come from the ordering store (or the running workflow); every change goes through the order's workflow.
"""

from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OPERATOR
from api.deps import Orders, Page, ReadSession
from api.errors import responses
from api.idempotency import Idempotency, KeyedRequest, claim_action, keyed_request, update_id_of
from api.order_workflows import M, OrderPlacementFailed, OrderUpdate
from api.paging import paged_responses
from contracts.order import CancelOrder, ExpireOrder, MarkPaid, MarkShipped, OrderDetails, OrderState
from services.cart.errors import CartNotFoundError
from services.cart.store import CartStore
from services.ordering.errors import OrderNotFoundError
from services.ordering.idempotency import IdempotencyStore
from services.ordering.rules import check_create_order
from services.ordering.schemas import CreateOrderItemRequest, CreateOrderRequest, OrderListItemDto
from services.ordering.store import OrderingStore
from services.schemas import RequestModel
from workflows.order import OrderWorkflow

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["orders"], responses=responses(503))


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


async def _place(
    orders: Orders, request: CreateOrderRequest, keyed: KeyedRequest | None, body: RequestModel, response: Response
) -> OrderDetails:
    """Place the order; with a key, the order the key names (placing it if a transient failure gave it up)."""
    valid = check_create_order(request)

    async def place(order_id: UUID) -> OrderDetails:
        return await orders.place(order_id, valid.customer_name, valid.customer_email, valid.items)

    if keyed is None:
        order = await place(uuid4())
    else:
        fingerprint = keyed.fingerprint(body)
        claim = await orders.write(
            lambda session: IdempotencyStore(session).claim(
                keyed.scope, keyed.key_digest, fingerprint, keyed.derived_id()
            )
        )
        assert claim.resource_id is not None
        try:
            order = await place(claim.resource_id)
        except OrderPlacementFailed as failure:
            # Not sticky: the key moves on to a fresh order id (a new run). A failure an earlier request saw is
            # placed again by this one; a failure this request waited for is the client's to retry.
            replacement = await _move_on(orders, keyed, claim.resource_id, claim.attempt + 1)
            if not failure.earlier:
                raise
            order = await place(replacement)
    response.headers["Location"] = f"/api/orders/{order.id}"
    return order


async def _move_on(orders: Orders, keyed: KeyedRequest, given_up: UUID, attempt: int) -> UUID:
    """The key's order id after `given_up` was given up: a fresh one (or one a concurrent retry chose)."""
    replacement = keyed.derived_id(attempt)
    return await orders.write(
        lambda session: IdempotencyStore(session).replace_resource(
            keyed.scope, keyed.key_digest, given_up, replacement, attempt
        )
    )


@router.post("/api/orders", responses=responses(400, 415, 422), status_code=status.HTTP_201_CREATED)
async def create_order(
    body: CreateOrderRequest, orders: Orders, response: Response, keyed: Idempotency = None
) -> OrderDetails:
    """Place an order: snapshots from the catalog, stock reserved, status PendingPayment.

    With an `Idempotency-Key`, a retry of the same request answers with the same order (placing it again only if
    placing was given up, 503 `order_placement_failed`); the key with another request is refused (422).
    """
    return await _place(orders, body, keyed, body, response)


@router.post(
    "/api/carts/{cart_id}/checkout", responses=responses(400, 404, 415, 422), status_code=status.HTTP_201_CREATED
)
async def checkout_cart(
    cart_id: UUID, body: CheckoutRequest, orders: Orders, response: Response, keyed: Idempotency = None
) -> OrderDetails:
    """Turn a cart into an order, then take the ordered lines out of the cart (once, whatever the retries).

    Without an `Idempotency-Key`, the cart's id and last change make the key: checking out the same cart
    contents twice places one order. A key is bound to its cart: reused on another cart, it is refused (422).
    """
    cart = await orders.read(lambda session: CartStore(session).get(cart_id))
    if cart is None:
        raise CartNotFoundError(cart_id)
    if keyed is None:
        path = f"/api/carts/{cart_id}/checkout"
        keyed = keyed_request(orders.settings, f"POST {path}", path, f"cart:{cart.updated_at.isoformat()}")
    request = CreateOrderRequest(
        customer_name=body.customer_name,
        customer_email=body.customer_email,
        items=[
            CreateOrderItemRequest(product_variant_id=item.product_variant_id, quantity=item.quantity)
            for item in cart.items
        ],
    )
    order = await _place(orders, request, keyed, body, response)
    lines = [(item.product_variant_id, item.quantity) for item in order.items]
    scope, digest = keyed.scope, keyed.key_digest

    async def take_ordered_lines(session: AsyncSession) -> None:
        if await IdempotencyStore(session).complete(scope, digest):
            await CartStore(session).remove_ordered(cart_id, lines)

    await orders.write(take_ordered_lines)
    return order


async def _act(
    orders: Orders, order_id: UUID, update: OrderUpdate[M], message: M, keyed: KeyedRequest | None
) -> OrderDetails:
    key = await claim_action(orders, keyed, None)
    return await orders.act(order_id, update, message, update_id=update_id_of(key))


@router.post("/api/orders/{order_id}/cancel", responses=responses(400, 404, 409, 422, 429))
async def cancel_order(order_id: UUID, orders: Orders, keyed: Idempotency = None) -> OrderDetails:
    """PendingPayment or Paid (not shipped) -> Cancelled: stock released, payments refunded.

    Strict, as the seed's: cancelling a cancelled order is refused, except for a retry with the same
    `Idempotency-Key`, which gets the first attempt's outcome.
    """
    return await _act(orders, order_id, OrderWorkflow.cancel, CancelOrder(), keyed)


@router.post("/api/orders/{order_id}/expire", responses=responses(400, 404, 409, 422, 429), dependencies=[OPERATOR])
async def expire_order(order_id: UUID, orders: Orders, keyed: Idempotency = None) -> OrderDetails:
    """PendingPayment -> Expired: stock released. Expiring an expired order is a no-op."""
    return await _act(orders, order_id, OrderWorkflow.expire, ExpireOrder(reason="operator"), keyed)


@router.post("/api/orders/{order_id}/mark-paid", responses=responses(400, 404, 409, 422, 429), dependencies=[OPERATOR])
async def mark_order_paid(order_id: UUID, orders: Orders, keyed: Idempotency = None) -> OrderDetails:
    """PendingPayment -> Paid; stock stays reserved. A no-op on Paid and Shipped orders."""
    return await _act(orders, order_id, OrderWorkflow.mark_paid, MarkPaid(), keyed)


@router.post(
    "/api/orders/{order_id}/mark-shipped", responses=responses(400, 404, 409, 422, 429), dependencies=[OPERATOR]
)
async def mark_order_shipped(order_id: UUID, orders: Orders, keyed: Idempotency = None) -> OrderDetails:
    """Paid -> Shipped: every reservation is committed. A no-op on Shipped orders."""
    return await _act(orders, order_id, OrderWorkflow.mark_shipped, MarkShipped(), keyed)
