"""Routes of the carts resource (contract section 4). Not-found is 404 on every cart endpoint.

Checking a cart out places an order: that route is with order placement, in api/routes/orders.py.
"""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.deps import CallerCaps, ReadSession, Session
from api.errors import responses
from services.cart.errors import CartNotFoundError
from services.cart.schemas import AddCartItemRequest, CartDto, UpdateCartItemRequest
from services.cart.store import CartStore

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down.
router = APIRouter(tags=["carts"], responses=responses(503))


@router.post("/api/carts", status_code=status.HTTP_201_CREATED)
async def create_cart(session: Session, response: Response) -> CartDto:
    """Create an empty cart. Any body (none, `null`, `{}`) is ignored."""
    cart = await CartStore(session).create()
    response.headers["Location"] = f"/api/carts/{cart.id}"
    return cart


@router.get("/api/carts/{cart_id}", responses=responses(404))
async def get_cart(cart_id: UUID, session: ReadSession) -> CartDto:
    cart = await CartStore(session).get(cart_id)
    if cart is None:
        raise CartNotFoundError(cart_id)
    return cart


@router.post("/api/carts/{cart_id}/items", responses=responses(400, 404, 415))
async def add_cart_item(cart_id: UUID, body: AddCartItemRequest, session: Session, caps: CallerCaps) -> CartDto:
    """Add a variant; adding one already in the cart adds to its quantity. 200, not 201."""
    return await CartStore(session).add_item(cart_id, body, caps)


@router.put("/api/carts/{cart_id}/items/{product_variant_id}", responses=responses(400, 404, 415))
async def update_cart_item(
    cart_id: UUID, product_variant_id: UUID, body: UpdateCartItemRequest, session: Session, caps: CallerCaps
) -> CartDto:
    return await CartStore(session).update_item(cart_id, product_variant_id, body, caps)


@router.delete("/api/carts/{cart_id}/items/{product_variant_id}", responses=responses(404))
async def remove_cart_item(cart_id: UUID, product_variant_id: UUID, session: Session) -> CartDto:
    return await CartStore(session).remove_item(cart_id, product_variant_id)


@router.post("/api/carts/{cart_id}/clear", responses=responses(404))
async def clear_cart(cart_id: UUID, session: Session) -> CartDto:
    """Delete every line. Any body (none, `null`, `{}`) is ignored."""
    return await CartStore(session).clear(cart_id)
