"""The storefront at `/`: products, cart (its id in a cookie), checkout, and the live order page with payment.

Reads go through the stores, every change to an order through the use cases the REST routes adapt too.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import CallerCaps, Orders, Payments, SessionMaker
from api.web.pages import PageRoute, Refused, render, see_other, templates
from api.web.stripe_js import stripe_js
from contracts.order import SPECS, TERMINAL_STATUSES, OrderAction, OrderDetails, OrderStatus, Verdict, decide
from services.cart.schemas import AddCartItemRequest, CartDto, UpdateCartItemRequest
from services.cart.store import CartStore
from services.catalog.models import ProductStatus
from services.catalog.schemas import ProductVariantListItemDto
from services.catalog.store import CatalogStore
from services.errors import DomainError
from services.fulfillment.schemas import ShipmentDetailsDto
from services.fulfillment.store import FulfillmentStore
from services.inventory.store import InventoryStore
from services.paging import MAX_LIMIT, PageRequest
from services.payment.schemas import STRIPE, CreatePaymentRequest, PaymentDetailsDto, PaymentStatus
from services.payment.store import PaymentStore
from usecases import payments
from usecases.orders import CheckoutRequest, act, checkout_cart

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CART_COOKIE = "cart_id"
CART_COOKIE_MAX_AGE = 30 * 24 * 3600
LOW_STOCK = 5  # at or below, the shop says how many are left; above, only that there are


def stock_label(available: int) -> str:
    """What a shopper is told of a variant's stock: never an exact count to aim a hoarding order at."""
    if available <= 0:
        return "out of stock"
    if available <= LOW_STOCK:
        return f"only {available} left"
    return "in stock"


templates.env.filters["stock"] = stock_label


@dataclass(frozen=True)
class VariantView:
    variant: ProductVariantListItemDto
    available: int


@dataclass(frozen=True)
class CartLine:
    variant_id: UUID
    sku: str
    name: str
    unit_price_minor: int
    currency: str
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True)
class CartView:
    id: UUID | None
    lines: list[CartLine]

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def currency(self) -> str:
        return self.lines[0].currency if self.lines else "USD"

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)


def _cart_id(request: Request) -> UUID | None:
    try:
        return UUID(request.cookies.get(CART_COOKIE, ""))
    except ValueError:
        return None


def _keep_cart(response: Response, cart_id: UUID) -> Response:
    response.set_cookie(CART_COOKIE, str(cart_id), max_age=CART_COOKIE_MAX_AGE, httponly=True, samesite="lax", path="/")
    return response


async def _available(inventory: InventoryStore, sku: str) -> int:
    stock = await inventory.get_stock(sku)
    return stock.total_available_quantity if stock is not None else 0


async def _cart(sessionmaker: SessionMaker, request: Request) -> CartView:
    cart_id = _cart_id(request)
    cart: CartDto | None = None
    async with sessionmaker() as session:
        if cart_id is not None:
            cart = await CartStore(session).get(cart_id)
        if cart is None:
            return CartView(id=None, lines=[])
        snapshots = await CatalogStore(session).get_variant_snapshots([item.product_variant_id for item in cart.items])
    lines = []
    for item in cart.items:
        snapshot = snapshots.get(item.product_variant_id)
        if snapshot is None:
            continue  # a variant withdrawn from sale; checkout would refuse it with the API's code
        lines.append(
            CartLine(
                variant_id=item.product_variant_id,
                sku=snapshot.sku,
                name=f"{snapshot.product_name} — {snapshot.variant_name}",
                unit_price_minor=snapshot.price_amount_minor,
                currency=snapshot.currency,
                quantity=item.quantity,
            )
        )
    return CartView(id=cart.id, lines=lines)


# --- products ------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, sessionmaker: SessionMaker) -> HTMLResponse:
    async with sessionmaker() as session:
        products = (await CatalogStore(session).list_active_products(PageRequest(limit=MAX_LIMIT))).items
        inventory = InventoryStore(session)
        available = {v.sku: await _available(inventory, v.sku) for p in products for v in p.variants}
    cart = await _cart(sessionmaker, request)
    return render(request, "shop_home.html", {"products": products, "available": available, "cart": cart})


@router.get("/products/{product_id}", response_class=HTMLResponse)
async def product_page(
    product_id: UUID, request: Request, sessionmaker: SessionMaker, caps: CallerCaps
) -> HTMLResponse:
    async with sessionmaker() as session:
        product = await CatalogStore(session).get_product(product_id)
        if product is None or product.status is not ProductStatus.ACTIVE:
            raise Refused(404, "Not found", "This product is not for sale.")
        inventory = InventoryStore(session)
        variants = [VariantView(v, await _available(inventory, v.sku)) for v in product.variants if v.is_active]
    cart = await _cart(sessionmaker, request)
    context = {"product": product, "variants": variants, "cart": cart, "max_units": caps.units_per_line}
    return render(request, "shop_product.html", context)


# --- cart ----------------------------------------------------------------------------------------------


@router.get("/cart", response_class=HTMLResponse)
async def cart_page(request: Request, sessionmaker: SessionMaker, caps: CallerCaps) -> HTMLResponse:
    context = {"cart": await _cart(sessionmaker, request), "max_units": caps.units_per_line}
    return render(request, "shop_cart.html", context)


@router.post("/cart/items")
async def add_to_cart(
    request: Request,
    sessionmaker: SessionMaker,
    caps: CallerCaps,
    variant_id: Annotated[UUID, Form()],
    quantity: Annotated[int, Form()] = 1,
) -> Response:
    cart_id = _cart_id(request)
    async with sessionmaker.begin() as session:
        carts = CartStore(session)
        if cart_id is None or await carts.get(cart_id) is None:
            cart_id = (await carts.create()).id
        await carts.add_item(cart_id, AddCartItemRequest(product_variant_id=variant_id, quantity=quantity), caps)
    return _keep_cart(see_other("/cart"), cart_id)


@router.post("/cart/items/{variant_id}")
async def change_cart_item(
    variant_id: UUID, request: Request, sessionmaker: SessionMaker, caps: CallerCaps, quantity: Annotated[int, Form()]
) -> Response:
    cart_id = _cart_id(request)
    if cart_id is not None:
        async with sessionmaker.begin() as session:
            carts = CartStore(session)
            if quantity <= 0:
                await carts.remove_item(cart_id, variant_id)
            else:
                await carts.update_item(cart_id, variant_id, UpdateCartItemRequest(quantity=quantity), caps)
    return see_other("/cart")


@router.post("/cart/items/{variant_id}/remove")
async def remove_cart_item(variant_id: UUID, request: Request, sessionmaker: SessionMaker) -> Response:
    cart_id = _cart_id(request)
    if cart_id is not None:
        async with sessionmaker.begin() as session:
            await CartStore(session).remove_item(cart_id, variant_id)
    return see_other("/cart")


# --- checkout ------------------------------------------------------------------------------------------


@router.get("/checkout", response_class=HTMLResponse)
async def checkout_page(request: Request, sessionmaker: SessionMaker) -> HTMLResponse:
    cart = await _cart(sessionmaker, request)
    return render(request, "shop_checkout.html", {"cart": cart, "form": {}, "error": None})


@router.post("/checkout")
async def place_order(
    request: Request,
    sessionmaker: SessionMaker,
    orders: Orders,
    caps: CallerCaps,
    customer_name: Annotated[str, Form()] = "",
    customer_email: Annotated[str, Form()] = "",
) -> Response:
    cart = await _cart(sessionmaker, request)
    form = {"customer_name": customer_name, "customer_email": customer_email}
    if cart.id is None:
        error = DomainError("cart_empty", "Your cart is empty.")
    else:
        try:
            body = CheckoutRequest(customer_name=customer_name, customer_email=customer_email)
            order = await checkout_cart(orders, cart.id, body, None, caps)
            return see_other(f"/orders/{order.id}")
        except DomainError as refused:
            error = refused
    return render(request, "shop_checkout.html", {"cart": cart, "form": form, "error": error}, status_code=400)


# --- the order page ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderView:
    """What the order page shows; `version` changes whenever something on it does (the page's script swaps
    the live part only then, so a half-typed card number is not wiped by a refresh that changed nothing)."""

    order: OrderDetails
    payment_deadline: datetime | None
    payments: list[PaymentDetailsDto]
    shipments: list[ShipmentDetailsDto]

    @property
    def final(self) -> bool:
        return self.order.status in TERMINAL_STATUSES

    @property
    def can_pay(self) -> bool:
        return decide(OrderAction.PAY, self.order.status) is Verdict.APPLY

    @property
    def can_cancel(self) -> bool:
        return decide(OrderAction.CANCEL, self.order.status) is Verdict.APPLY

    @property
    def refunded(self) -> list[PaymentDetailsDto]:
        return [p for p in self.payments if p.status is PaymentStatus.REFUNDED]

    @property
    def declined(self) -> list[PaymentDetailsDto]:
        return [p for p in self.payments if p.status is PaymentStatus.FAILED]

    @property
    def shipped(self) -> ShipmentDetailsDto | None:
        return next((s for s in self.shipments if s.shipped_at is not None), None)

    @property
    def reason(self) -> str | None:
        """Why an order ended without shipping, in the shopper's words."""
        status = self.order.status
        if status is OrderStatus.EXPIRED:
            return "It was not paid before the payment deadline, so the reserved items were released."
        if status is OrderStatus.CANCELLED:
            if self.refunded:
                return "It was cancelled; your payment was refunded and the reserved items were released."
            return "It was cancelled before it was paid; the reserved items were released."
        return None

    @property
    def version(self) -> str:
        parts = [self.order.status.value, *(f"{p.id}:{p.status.value}" for p in self.payments)]
        parts += [f"{s.id}:{s.status.value}" for s in self.shipments]
        return "|".join(parts)


async def _order_view(orders: Orders, sessionmaker: SessionMaker, order_id: UUID) -> OrderView:
    order = await orders.details(order_id)
    if order is None:
        raise Refused(404, "Order not found", "There is no such order.")
    deadline = None
    if order.status is OrderStatus.PENDING_PAYMENT:
        state = await orders.state(order_id)
        deadline = state.payment_deadline if state is not None else None
    async with sessionmaker() as session:
        payments = await PaymentStore(session).list_for_order(order_id)
        shipments = await FulfillmentStore(session).list_for_order(order_id)
    return OrderView(order=order, payment_deadline=deadline, payments=payments, shipments=shipments)


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(order_id: UUID, request: Request, orders: Orders, sessionmaker: SessionMaker) -> HTMLResponse:
    view = await _order_view(orders, sessionmaker, order_id)
    return render(request, "shop_order.html", {"view": view, "error": None})


@router.get("/orders/{order_id}/live", response_class=HTMLResponse)
async def order_live(order_id: UUID, request: Request, orders: Orders, sessionmaker: SessionMaker) -> HTMLResponse:
    """The live part of the order page alone; the page's script polls it."""
    view = await _order_view(orders, sessionmaker, order_id)
    return render(request, "shop_order_live.html", {"view": view, "error": None})


@router.post("/orders/{order_id}/pay", response_class=HTMLResponse)
async def pay_order(
    order_id: UUID, request: Request, orders: Orders, sessionmaker: SessionMaker, provider: Payments
) -> Response:
    """The pay page: the order's PaymentIntent (created or the open one, through the payment use case) and
    Stripe.js to confirm it with, in the browser. Nothing posted here is a payment: a card number sent to this
    route is ignored, and only the provider's authorization, re-read by the order's workflow, pays the order."""
    request_body = CreatePaymentRequest(order_id=order_id, provider=STRIPE)
    try:
        payment = await payments.create_payment(
            sessionmaker, request_body, operator=False, keyed=None, provider=provider
        )
    except DomainError as error:
        view = await _order_view(orders, sessionmaker, order_id)
        return render(request, "shop_order.html", {"view": view, "error": error}, status_code=400)
    view = await _order_view(orders, sessionmaker, order_id)
    stripe = stripe_js(request.app.state.settings)
    response = render(request, "shop_pay.html", {"view": view, "payment": payment, "stripe": stripe})
    response.headers["Content-Security-Policy"] = stripe.content_security_policy()
    return response


@router.get("/orders/{order_id}/payments/{payment_id}/return")
async def payment_return(order_id: UUID, payment_id: UUID, orders: Orders, provider: Payments) -> Response:
    """Where the pay page goes once Stripe.js has confirmed (or failed to): the payment's intent is re-read from
    the provider, its order's workflow told, and the order page shows what came of it."""
    await payments.refresh_payment(orders, provider, payment_id)
    return see_other(f"/orders/{order_id}")


@router.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: UUID, request: Request, orders: Orders, sessionmaker: SessionMaker) -> Response:
    try:
        await act(orders, SPECS[OrderAction.CANCEL], order_id, None)
    except DomainError as error:
        if error.status_code == 404:
            raise
        view = await _order_view(orders, sessionmaker, order_id)
        return render(request, "shop_order.html", {"view": view, "error": error}, status_code=400)
    return see_other(f"/orders/{order_id}")
