"""Routes of the orders resource (contract section 5), plus checkout of a cart.

Reads come from the ordering store (or the running workflow); every change is a use case of `usecases.orders`,
through the order's workflow. The action routes are registered from `contracts.order.ACTIONS`.
"""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.auth import OPERATOR
from api.deps import CallerCaps, Orders, Page, ReadSession
from api.errors import responses
from api.idempotency import Idempotency
from api.paging import paged_responses
from contracts.order import ACTIONS, ActionSpec, Caller, OrderDetails, OrderState
from services.ordering.errors import OrderNotFoundError
from services.ordering.schemas import CreateOrderRequest, OrderListItemDto
from services.ordering.store import OrderingStore
from usecases.orders import CheckoutRequest, act, place_order
from usecases.orders import checkout_cart as checkout

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["orders"], responses=responses(503))


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


@router.post("/api/orders", responses=responses(400, 415, 422), status_code=status.HTTP_201_CREATED)
async def create_order(
    body: CreateOrderRequest, orders: Orders, response: Response, keyed: Idempotency, caps: CallerCaps
) -> OrderDetails:
    """Place an order: snapshots from the catalog, stock reserved, status PendingPayment.

    With an `Idempotency-Key`, a retry of the same request answers with the same order (placing it again only if
    placing was given up, 503 `order_placement_failed`); the key with another request is refused (422).
    """
    return _located(response, await place_order(orders, body, keyed, caps))


@router.post(
    "/api/carts/{cart_id}/checkout", responses=responses(400, 404, 415, 422), status_code=status.HTTP_201_CREATED
)
async def checkout_cart(
    cart_id: UUID, body: CheckoutRequest, orders: Orders, response: Response, keyed: Idempotency, caps: CallerCaps
) -> OrderDetails:
    """Turn a cart into an order, then take the ordered lines out of the cart (once, whatever the retries).

    Without an `Idempotency-Key`, the cart's id and last change make the key: checking out the same cart
    contents twice places one order. A key is bound to its cart: reused on another cart, it is refused (422).
    """
    return _located(response, await checkout(orders, cart_id, body, keyed, caps))


def _located(response: Response, order: OrderDetails) -> OrderDetails:
    response.headers["Location"] = f"/api/orders/{order.id}"
    return order


def _action_route(spec: ActionSpec) -> None:
    """`POST /api/orders/{order_id}/<action>`, for the callers the spec names."""

    async def act_on_order(order_id: UUID, orders: Orders, keyed: Idempotency) -> OrderDetails:
        return await act(orders, spec, order_id, keyed)

    router.add_api_route(
        f"/api/orders/{{order_id}}/{spec.action.value}",
        act_on_order,
        methods=["POST"],
        name=spec.route_name,
        description=spec.route_doc,
        responses=responses(400, 404, 409, 422, 429),
        dependencies=[OPERATOR] if spec.caller is Caller.OPERATOR else None,
    )


for _spec in ACTIONS:
    _action_route(_spec)
