"""The operator console at `/ops`: dashboard, orders (with actions), stock, catalog.

Behind the operator token: the login form checks it (`api.auth.operator_token_valid`) and sets a signed
session cookie (HttpOnly, SameSite=Strict, with an expiry) bound to that token (api/web/session.py); every form
carries a CSRF token bound to that session. Logout revokes the session for every replica (services/access), and a
session whose token left `OPERATOR_TOKENS` opens nothing. Failed logins count against the client like wrong bearer
tokens (`api.auth.failures`). With AUTH_MODE=open there is no login: a visit gets a session at once (forms are
still CSRF-checked).
"""

import builtins
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError

from api.auth import failures, operator_token_valid
from api.client import client_address
from api.deps import AppSettings, Orders, SessionMaker
from api.web.chart import minute_chart
from api.web.pages import PageRoute, Redirect, Refused, render, see_other
from api.web.session import (
    CODEC_COOKIE,
    CODEC_PATH,
    LOGIN_COOKIE,
    LOGIN_SUBJECT,
    LOGIN_TTL,
    OPEN_SUBJECT,
    SESSION_COOKIE,
    SESSION_TTL,
    Session,
    console_key,
    csrf_token,
    csrf_valid,
    issue,
    operator_session,
    token_fingerprint,
    verify,
)
from contracts.order import ACTIONS, SPECS, ActionSpec, ConsoleButton, FormField, OrderAction, OrderStatus, Verdict
from services.access.store import AccessStore
from services.catalog.schemas import AddProductVariantRequest, CreateProductRequest
from services.catalog.store import CatalogStore
from services.errors import DomainError
from services.fulfillment.store import FulfillmentStore
from services.inventory.store import InventoryStore
from services.ordering.store import OrderFilter, OrderingStore
from services.paging import MAX_LIMIT, PageRequest
from services.payment.store import PaymentStore
from stack.settings import Settings
from usecases.orders import act
from usecases.shipments import ship_order as ship_through_shipment

router = APIRouter(prefix="/ops", route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 20
LOW_STOCK = 10  # available units under which a SKU is listed as low on the dashboard
MOVEMENTS_SHOWN = 50
# The console is not paged yet: it shows a list endpoint's largest page.
ALL = PageRequest(limit=MAX_LIMIT)


@dataclass(frozen=True)
class Button:
    """An action's form on the order page: it posts to `/ops/orders/{id}/<path>`."""

    path: str
    label: str
    style: str
    fields: tuple[FormField, ...]


def _path(spec: ActionSpec, button: ConsoleButton) -> str:
    return button.path or spec.action.value


def buttons(status: OrderStatus) -> builtins.list[Button]:
    """The console's buttons for an order in `status`: every action that applies in it and has one."""
    return [
        Button(_path(spec, spec.console), spec.console.label_for(status), spec.console.style, spec.console.fields)
        for spec in ACTIONS
        if spec.console is not None and spec.verdict(status) is Verdict.APPLY
    ]


NOTICES = {_path(spec, spec.console): spec.console.notice for spec in ACTIONS if spec.console is not None} | {
    "received": "The stock was received.",
    "product": "The product was created as a Draft: add a variant, then publish it.",
    "variant": "The variant was added.",
    "published": "The product was published.",
    "archived": "The product was archived.",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _key(settings: Settings) -> bytes:
    try:
        return console_key(settings)
    except RuntimeError as error:
        raise Refused(503, "Console unavailable", str(error)) from error


def _safe_next(target: str | None) -> str:
    """Only a console page: never a redirect off the site."""
    if target and target.startswith("/ops") and not target.startswith("//"):
        return target
    return "/ops"


# The session goes to the console's pages and, for Temporal Web's codec calls, to the codec server; each cookie
# only to its own path. SameSite=Strict: Temporal Web on the same host name is same-site, any other site is not.
_SESSION_PATHS = {SESSION_COOKIE: "/ops", CODEC_COOKIE: CODEC_PATH}


def _session_cookie(response: Response, token: str, request: Request) -> None:
    for name, path in _SESSION_PATHS.items():
        _console_cookie(response, request, name, token, SESSION_TTL, path)


def _console_cookie(
    response: Response, request: Request, name: str, value: str, ttl: timedelta, path: str = "/ops"
) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, Secure over HTTPS, sent only to `path`."""
    response.set_cookie(
        name,
        value,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


@dataclass(frozen=True)
class Operator:
    session: Session
    csrf: str
    open_mode: bool


async def session_revoked(sessionmaker: async_sessionmaker[AsyncSession], session: Session) -> bool:
    async with sessionmaker() as db:
        return await AccessStore(db).is_revoked(session.nonce)


async def current_operator(request: Request, settings: AppSettings, sessionmaker: SessionMaker) -> Operator:
    key = _key(settings)
    session = operator_session(key, settings, request.cookies.get(SESSION_COOKIE), _now())
    if session is None or await session_revoked(sessionmaker, session):
        raise Redirect("/ops/login?" + urlencode({"next": request.url.path}))
    return Operator(session=session, csrf=csrf_token(key, session), open_mode=settings.auth_mode == "open")


async def checked_operator(
    request: Request, settings: AppSettings, operator: Annotated[Operator, Depends(current_operator)]
) -> Operator:
    """The operator of a form post, refused unless the form carries this session's CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not csrf_valid(_key(settings), operator.session, token if isinstance(token, str) else None):
        raise Refused(403, "Refused", "This form did not come from your console session. Reload the page and retry.")
    return operator


OperatorPage = Annotated[Operator, Depends(current_operator)]
OperatorForm = Annotated[Operator, Depends(checked_operator)]


def _page(request: Request, template: str, operator: Operator, section: str, **context: object) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render(request, template, {"op": operator, "section": section, "notice": notice, **context})


# --- login / logout ------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, settings: AppSettings, next: str | None = None) -> Response:
    key = _key(settings)
    if settings.auth_mode == "open":
        response = see_other(_safe_next(next))
        _session_cookie(response, issue(key, _now(), SESSION_TTL, OPEN_SUBJECT), request)
        return response
    return _login_form(request, key, next, error=None)


def _login_form(
    request: Request, key: bytes, next: str | None, error: str | None, status_code: int = 401, retry_after: int = 0
) -> Response:
    token = issue(key, _now(), LOGIN_TTL, LOGIN_SUBJECT)
    login = verify(key, token, _now())
    assert login is not None
    response = render(
        request,
        "ops_login.html",
        {"csrf": csrf_token(key, login), "next": _safe_next(next), "error": error},
        status_code=status_code if error else 200,
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    _console_cookie(response, request, LOGIN_COOKIE, token, LOGIN_TTL)
    return response


@router.post("/login")
async def login(
    request: Request,
    settings: AppSettings,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ops",
) -> Response:
    key = _key(settings)
    login_session = verify(key, request.cookies.get(LOGIN_COOKIE), _now())
    if login_session is None or login_session.subject != LOGIN_SUBJECT or not csrf_valid(key, login_session, csrf):
        raise Refused(403, "Refused", "This login form has expired or did not come from this site. Reload it.")
    client, now = client_address(request), time.monotonic()
    wait = failures(request).retry_after(client, now)
    if wait is not None:
        error = f"Too many failed logins from your address. Wait {wait} seconds, then try again."
        return _login_form(request, key, next, error=error, status_code=429, retry_after=wait)
    token = token.strip()
    if not operator_token_valid(settings, token):
        failures(request).fail(client, now)
        return _login_form(request, key, next, error="That operator token is not valid.")
    response = see_other(_safe_next(next))
    _session_cookie(response, issue(key, _now(), SESSION_TTL, token_fingerprint(key, token)), request)
    response.delete_cookie(LOGIN_COOKIE, path="/ops")
    return response


@router.post("/logout")
async def logout(operator: OperatorForm, sessionmaker: SessionMaker) -> Response:
    """Ends the session for good: a copy of its cookie opens neither the console nor the codec any more."""
    async with sessionmaker.begin() as db:
        await AccessStore(db).revoke(operator.session.nonce, operator.session.expires, _now())
    response = see_other("/ops/login")
    for name, path in _SESSION_PATHS.items():
        response.delete_cookie(name, path=path)
    return response


# --- dashboard -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockRow:
    sku: str
    product: str
    variant: str
    on_hand: int
    reserved: int
    available: int


async def _stock_rows(sessionmaker: SessionMaker, active_only: bool) -> builtins.list[StockRow]:
    async with sessionmaker() as session:
        catalog = CatalogStore(session)
        products = (await (catalog.list_active_products(ALL) if active_only else catalog.list_products(ALL))).items
        inventory = InventoryStore(session)
        rows = []
        for product in products:
            for variant in product.variants:
                stock = await inventory.get_stock(variant.sku)
                rows.append(
                    StockRow(
                        sku=variant.sku,
                        product=product.name,
                        variant=variant.name,
                        on_hand=stock.total_on_hand_quantity if stock else 0,
                        reserved=stock.total_reserved_quantity if stock else 0,
                        available=stock.total_available_quantity if stock else 0,
                    )
                )
    return sorted(rows, key=lambda row: row.sku)


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, operator: OperatorPage, sessionmaker: SessionMaker) -> HTMLResponse:
    now = _now()
    async with sessionmaker() as session:
        ordering = OrderingStore(session)
        by_status = await ordering.count_by_status()
        activity = await ordering.activity_per_minute(now - timedelta(hours=1))
    low = [row for row in await _stock_rows(sessionmaker, active_only=True) if row.available < LOW_STOCK]
    statuses = [s for s in OrderStatus if s is not OrderStatus.DRAFT]
    return _page(
        request,
        "ops_dashboard.html",
        operator,
        "dashboard",
        by_status=by_status,
        statuses=statuses,
        chart=minute_chart(activity, now),
        low_stock=low,
        low_threshold=LOW_STOCK,
    )


# --- orders --------------------------------------------------------------------------------------------


def _status(value: str | None) -> OrderStatus | None:
    try:
        return OrderStatus(value) if value else None
    except ValueError as error:
        raise Refused(400, "Unknown status", f"There is no order status {value!r}.") from error


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as error:
        raise Refused(400, "Bad date", "The date must look like 2026-01-31.") from error


@router.get("/orders", response_class=HTMLResponse)
async def orders_page(
    request: Request,
    operator: OperatorPage,
    sessionmaker: SessionMaker,
    status: str | None = None,
    email: str | None = None,
    day: str | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    where = OrderFilter(status=_status(status), customer_email=(email or "").strip() or None, created_on=_day(day))
    async with sessionmaker() as session:
        found = await OrderingStore(session).search(where, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    query = {"status": status or "", "email": email or "", "day": day or ""}

    def page_url(number: int) -> str:
        return "/ops/orders?" + urlencode({**query, "page": number})

    return _page(
        request,
        "ops_orders.html",
        operator,
        "orders",
        found=found,
        filters=query,
        statuses=[s for s in OrderStatus if s is not OrderStatus.DRAFT],
        page=page,
        pages=pages,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
    )


@dataclass(frozen=True)
class Event:
    at: datetime
    what: str
    compensation: bool = False


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    order_id: UUID,
    request: Request,
    operator: OperatorPage,
    orders: Orders,
    sessionmaker: SessionMaker,
    settings: AppSettings,
    error: str | None = None,
) -> HTMLResponse:
    order = await orders.details(order_id)
    if order is None:
        raise Refused(404, "Order not found", "There is no such order.")
    try:
        state = await orders.state(order_id)
    except RPCError:
        state = None  # Temporal unreachable: the page still shows what PostgreSQL recorded
    events = [Event(order.created_at, f"Placed by {order.customer_name} <{order.customer_email}>")]
    async with sessionmaker() as session:
        inventory = InventoryStore(session)
        for item in order.items:
            if item.inventory_reservation_id is None:
                continue
            reservation = await inventory.get_reservation(item.inventory_reservation_id)
            if reservation is None:
                continue
            events.append(Event(reservation.created_at, f"Reserved {reservation.quantity} × {reservation.sku}"))
            if reservation.committed_at:
                events.append(Event(reservation.committed_at, f"Stock committed: {reservation.quantity} × {item.sku}"))
            if reservation.released_at:
                events.append(
                    Event(reservation.released_at, f"Released {reservation.quantity} × {item.sku}", compensation=True)
                )
        payments = await PaymentStore(session).list_for_order(order_id)
        shipments = await FulfillmentStore(session).list_for_order(order_id)
    for p in payments:
        amount = f"{p.amount_minor / 100:.2f} {p.currency}"
        events.append(Event(p.created_at, f"Payment of {amount} started ({p.provider})"))
        if p.succeeded_at:
            events.append(Event(p.succeeded_at, f"Paid {amount}"))
        if p.failed_at:
            events.append(Event(p.failed_at, f"Payment declined: {p.failure_reason or 'no reason given'}"))
        if p.refunded_at:
            events.append(Event(p.refunded_at, f"Refunded {amount}", compensation=True))
        if p.cancelled_at:
            events.append(Event(p.cancelled_at, f"Pending payment of {amount} dropped", compensation=True))
    for s in shipments:
        events.append(Event(s.created_at, "Shipment created"))
        if s.shipped_at:
            carrier = ", ".join(x for x in (s.carrier, s.tracking_number) if x)
            events.append(Event(s.shipped_at, f"Shipped{f' ({carrier})' if carrier else ''}"))
        if s.cancelled_at:
            events.append(Event(s.cancelled_at, "Pending shipment dropped", compensation=True))
    if order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        events.append(Event(order.updated_at, order.status.value, compensation=True))
    events.sort(key=lambda event: event.at)
    temporal_url = (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace)}"
        f"/workflows/order-{order_id}"
    )
    return _page(
        request,
        "ops_order.html",
        operator,
        "orders",
        order=order,
        state=state,
        events=events,
        temporal_url=temporal_url,
        codec_endpoint=f"{str(request.base_url).rstrip('/')}{CODEC_PATH}",
        buttons=buttons(order.status),
        payments=payments,
        error=error,
    )


async def _order_action(order_id: UUID, done: str, action: Awaitable[object]) -> Response:
    try:
        await action
    except DomainError as error:
        if error.status_code == 404:
            raise
        return see_other(f"/ops/orders/{order_id}?" + urlencode({"error": error.message}))
    return see_other(f"/ops/orders/{order_id}?done={done}")


@router.post("/orders/{order_id}/ship")
async def ship_order(
    order_id: UUID,
    _: OperatorForm,
    orders: Orders,
    carrier: Annotated[str, Form()] = "",
    tracking_number: Annotated[str, Form()] = "",
) -> Response:
    """The console ships through a shipment (`ConsoleButton.path` of the ship action), keeping its carrier."""
    return await _order_action(order_id, "ship", ship_through_shipment(orders, order_id, carrier, tracking_number))


@router.post("/orders/{order_id}/{action}")
async def act_on_order(order_id: UUID, action: OrderAction, _: OperatorForm, orders: Orders) -> Response:
    """An action whose console button posts to the action's own path."""
    spec = SPECS[action]
    if spec.console is None or spec.console.path:
        raise Refused(404, "Not found", "There is no such page.")
    return await _order_action(order_id, action.value, act(orders, spec, order_id, None))


# --- stock ---------------------------------------------------------------------------------------------


@router.get("/stock", response_class=HTMLResponse)
async def stock_page(
    request: Request, operator: OperatorPage, sessionmaker: SessionMaker, sku: str | None = None
) -> HTMLResponse:
    rows = await _stock_rows(sessionmaker, active_only=False)
    async with sessionmaker() as session:
        inventory = InventoryStore(session)
        movements = (await inventory.list_movements(sku, PageRequest(limit=MOVEMENTS_SHOWN))).items
        warehouses = {w.id: w for w in (await inventory.list_warehouses(ALL)).items}
        locations = (await inventory.list_locations(page=ALL)).items
    places = [
        (f"{loc.warehouse_id}:{loc.id}", f"{warehouses[loc.warehouse_id].code} / {loc.code}")
        for loc in locations
        if loc.warehouse_id in warehouses
    ]
    return _page(
        request,
        "ops_stock.html",
        operator,
        "stock",
        rows=rows,
        movements=movements,
        places=places,
        sku=sku or "",
        error=request.query_params.get("error"),
    )


@router.post("/stock/receipts")
async def receive_stock(
    request: Request,
    _: OperatorForm,
    sessionmaker: SessionMaker,
    sku: Annotated[str, Form()] = "",
    place: Annotated[str, Form()] = "",
    quantity: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        warehouse_id, location_id = (UUID(part) for part in place.split(":", 1))
    except ValueError:
        return see_other("/ops/stock?" + urlencode({"error": "Choose a warehouse location."}))
    try:
        count = int(quantity)
    except ValueError:
        return see_other("/ops/stock?" + urlencode({"error": "The quantity must be a whole number."}))
    try:
        async with sessionmaker.begin() as session:
            await InventoryStore(session).receive(sku, warehouse_id, location_id, count, reason or None)
    except DomainError as error:
        return see_other("/ops/stock?" + urlencode({"error": error.message}))
    return see_other("/ops/stock?done=received")


# --- catalog -------------------------------------------------------------------------------------------


def parse_price(text: str) -> int:
    """ "69.00" or "69" -> 6900 minor units; anything else is refused (the store checks the range)."""
    refused = DomainError("price_invalid", "The price must be a number with at most two decimals, such as 69.00.")
    try:
        value = Decimal(text.strip())
        if not value.is_finite() or value != value.quantize(Decimal("0.01")):
            raise refused
    except InvalidOperation as error:  # not a number, or too many digits to have cents
        raise refused from error
    return int(value * 100)


@router.get("/catalog", response_class=HTMLResponse)
async def catalog_page(request: Request, operator: OperatorPage, sessionmaker: SessionMaker) -> HTMLResponse:
    async with sessionmaker() as session:
        catalog = CatalogStore(session)
        products = (await catalog.list_products(ALL)).items
        brands = (await catalog.list_brands(ALL)).items
    return _page(
        request,
        "ops_catalog.html",
        operator,
        "catalog",
        products=products,
        brands=brands,
        error=request.query_params.get("error"),
    )


async def _catalog_change(
    sessionmaker: async_sessionmaker[AsyncSession], done: str, change: Callable[[CatalogStore], Awaitable[object]]
) -> Response:
    """One change of the catalog in its own unit of work; a refusal goes back to the catalog page as its message."""
    try:
        async with sessionmaker.begin() as session:
            await change(CatalogStore(session))
    except DomainError as error:
        return see_other("/ops/catalog?" + urlencode({"error": error.message}))
    return see_other(f"/ops/catalog?done={done}")


@router.post("/catalog/products")
async def create_product(
    _: OperatorForm,
    sessionmaker: SessionMaker,
    name: Annotated[str, Form()] = "",
    slug: Annotated[str, Form()] = "",
    brand_id: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    async def create(catalog: CatalogStore) -> None:
        try:
            brand = UUID(brand_id) if brand_id else None
        except ValueError as error:
            raise DomainError("brand_invalid", "Choose a brand from the list.") from error
        await catalog.create_product(
            CreateProductRequest(brand_id=brand, name=name, slug=slug, description=description or None)
        )

    return await _catalog_change(sessionmaker, "product", create)


@router.post("/catalog/products/{product_id}/variants")
async def add_variant(
    product_id: UUID,
    _: OperatorForm,
    sessionmaker: SessionMaker,
    sku: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    price: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "USD",
) -> Response:
    async def add(catalog: CatalogStore) -> None:
        request = AddProductVariantRequest(sku=sku, name=name, price_amount_minor=parse_price(price), currency=currency)
        await catalog.add_variant(product_id, request)

    return await _catalog_change(sessionmaker, "variant", add)


@router.post("/catalog/products/{product_id}/publish")
async def publish_product(product_id: UUID, _: OperatorForm, sessionmaker: SessionMaker) -> Response:
    return await _catalog_change(sessionmaker, "published", lambda catalog: catalog.publish_product(product_id))


@router.post("/catalog/products/{product_id}/archive")
async def archive_product(product_id: UUID, _: OperatorForm, sessionmaker: SessionMaker) -> Response:
    return await _catalog_change(sessionmaker, "archived", lambda catalog: catalog.archive_product(product_id))
