"""Placing an order (directly or from a cart) and acting on one, through its workflow."""

from typing import Any, cast
from uuid import UUID, uuid4

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.order_workflows import OrderPlacementFailed, OrderUpdate, OrderWorkflows
from contracts.order import ActionSpec, OrderDetails
from services.cart.errors import CartNotFoundError
from services.cart.store import CartStore
from services.errors import DomainError
from services.ordering.idempotency import IdempotencyStore
from services.ordering.rules import check_create_order, check_open_orders
from services.ordering.schemas import CreateOrderItemRequest, CreateOrderRequest
from services.ordering.store import OrderingStore
from services.schemas import RequestModel
from services.validation import Caps
from usecases.idempotency import KeyedRequest, claim_action, keyed_request, update_id_of
from workflows.order import OrderWorkflow


class CheckoutRequest(RequestModel):
    customer_name: str | None = None
    customer_email: str | None = None


async def place_order(
    orders: OrderWorkflows, request: CreateOrderRequest, keyed: KeyedRequest | None, caps: Caps
) -> OrderDetails:
    """Place an order; with a key, the order the key names (placing it again if placing was given up)."""
    return await _place(orders, request, keyed, request, caps)


async def _place(
    orders: OrderWorkflows,
    request: CreateOrderRequest,
    keyed: KeyedRequest | None,
    body: BaseModel,
    caps: Caps,
    *,
    binds_refusals: bool = True,
) -> OrderDetails:
    """Place under the key's order id. With `binds_refusals` off, a refusal (e.g. insufficient stock) moves the
    key on to a fresh id, so that its next use tries again instead of answering the refusal."""
    valid = check_create_order(request, caps)

    async def place(order_id: UUID) -> OrderDetails:
        if caps.open_orders_per_email:
            # Read, then start: placements racing for one email may pass together (the write bucket bounds them).
            held = await orders.read(lambda session: OrderingStore(session).open_orders(valid.customer_email, order_id))
            check_open_orders(held, caps)
        return await orders.place(order_id, valid.customer_name, valid.customer_email, valid.items)

    if keyed is None:
        return await place(uuid4())
    fingerprint = keyed.fingerprint(body)
    claim = await orders.write(
        lambda session: IdempotencyStore(session).claim(keyed.scope, keyed.key_digest, fingerprint, keyed.derived_id())
    )
    order_id = claim.resource_id
    assert order_id is not None
    # The order the key placed answers for it, whether or not Temporal still keeps its run: a new run under its id
    # would take its stock again and act on it as if it had never been finished.
    placed = await orders.read(lambda session: OrderingStore(session).get(order_id))
    if placed is not None:
        return placed
    try:
        return await place(order_id)
    except OrderPlacementFailed as failure:
        # Not sticky: the key moves on to a fresh order id (a new run). A failure an earlier request saw is
        # placed again by this one; a failure this request waited for is the client's to retry.
        replacement = await _move_on(orders, keyed, order_id, claim.attempt + 1)
        if not failure.earlier:
            raise
        return await place(replacement)
    except DomainError as refusal:
        if binds_refusals or refusal.status_code >= 500:
            raise
        await _move_on(orders, keyed, order_id, claim.attempt + 1)
        raise


async def _move_on(orders: OrderWorkflows, keyed: KeyedRequest, given_up: UUID, attempt: int) -> UUID:
    """The key's order id after `given_up` was given up: a fresh one (or one a concurrent retry chose)."""
    replacement = keyed.derived_id(attempt)
    return await orders.write(
        lambda session: IdempotencyStore(session).replace_resource(
            keyed.scope, keyed.key_digest, given_up, replacement, attempt
        )
    )


def checkout_path(cart_id: UUID) -> str:
    return f"/api/carts/{cart_id}/checkout"


async def checkout_cart(
    orders: OrderWorkflows, cart_id: UUID, body: CheckoutRequest, keyed: KeyedRequest | None, caps: Caps
) -> OrderDetails:
    """Turn a cart into an order, then take the ordered lines out of the cart (once, whatever the retries).

    Without a key, the cart's id and last change make one: checking out the same cart contents twice places
    one order. That key is not bound to a refusal: once the stock the cart lacked is back, the same cart checks
    out.
    """
    implicit = keyed is None
    cart = await orders.read(lambda session: CartStore(session).get(cart_id))
    if cart is None:
        raise CartNotFoundError(cart_id)
    if keyed is None:
        path = checkout_path(cart_id)
        keyed = keyed_request(orders.settings, f"POST {path}", path, f"cart:{cart.updated_at.isoformat()}")
    request = CreateOrderRequest(
        customer_name=body.customer_name,
        customer_email=body.customer_email,
        items=[
            CreateOrderItemRequest(product_variant_id=item.product_variant_id, quantity=item.quantity)
            for item in cart.items
        ],
    )
    order = await _place(orders, request, keyed, body, caps, binds_refusals=not implicit)
    lines = [(item.product_variant_id, item.quantity) for item in order.items]
    scope, digest = keyed.scope, keyed.key_digest

    async def take_ordered_lines(session: AsyncSession) -> None:
        if await IdempotencyStore(session).complete(scope, digest):
            await CartStore(session).remove_ordered(cart_id, lines)

    await orders.write(take_ordered_lines)
    return order


def update_of(spec: ActionSpec) -> OrderUpdate[Any]:
    """The workflow update that asks for the action (the spec names it; tests/unit checks it is one)."""
    return cast(OrderUpdate[Any], getattr(OrderWorkflow, spec.update))


async def act(orders: OrderWorkflows, spec: ActionSpec, order_id: UUID, keyed: KeyedRequest | None) -> OrderDetails:
    """Ask the order's workflow for the action; the order as it is afterwards, or the action's refusal."""
    async with claim_action(orders.sessionmaker, keyed, None) as key:
        return await orders.act(order_id, update_of(spec), spec.sent, update_id=update_id_of(key))
