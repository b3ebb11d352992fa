"""Two kinds of caller: customers (anonymous) and operators (a bearer token from `OPERATOR_TOKENS`).

`ROUTES` is the decision for every route the app serves: a route added without one fails
`test_every_route_has_a_decision`, and each decision is checked both in the OpenAPI schema and on the wire.
"""

import uuid
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.guessing import FailureThrottle
from contracts.order import ACTIONS
from contracts.order import Caller as ActionCaller
from stack.settings import Settings
from tests.conftest import asgi_client
from tests.operator import OPERATOR_TOKEN


class Caller(StrEnum):
    PUBLIC = "public"
    OPERATOR = "operator"
    CONSOLE = "console"  # the operator console's pages: an operator's console session (api/web/session.py)


PUBLIC, OPERATOR, CONSOLE = Caller.PUBLIC, Caller.OPERATOR, Caller.CONSOLE

ROUTES: dict[tuple[str, str], Caller] = {
    # health, and the docs (served outside the schema)
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/metrics"): OPERATOR,
    # the codec server: decoded payloads hold customer data
    ("POST", "/codec/encode"): OPERATOR,
    ("POST", "/codec/decode"): OPERATOR,
    # catalog: reads are the storefront's, writes the operators'
    ("GET", "/api/brands"): PUBLIC,
    ("POST", "/api/brands"): OPERATOR,
    ("GET", "/api/categories"): PUBLIC,
    ("POST", "/api/categories"): OPERATOR,
    ("GET", "/api/products"): PUBLIC,
    ("GET", "/api/products/variants/{product_variant_id}/snapshot"): PUBLIC,
    ("GET", "/api/products/{product_id}"): PUBLIC,
    ("POST", "/api/products"): OPERATOR,
    ("POST", "/api/products/{product_id}/variants"): OPERATOR,
    ("POST", "/api/products/{product_id}/publish"): OPERATOR,
    ("POST", "/api/products/{product_id}/archive"): OPERATOR,
    # inventory: all of it
    ("GET", "/api/warehouses"): OPERATOR,
    ("POST", "/api/warehouses"): OPERATOR,
    ("GET", "/api/locations"): OPERATOR,
    ("POST", "/api/locations"): OPERATOR,
    ("POST", "/api/stock/receipts"): OPERATOR,
    ("GET", "/api/stock/movements"): OPERATOR,
    ("GET", "/api/stock/{sku}"): OPERATOR,
    ("POST", "/api/stock/reservations"): OPERATOR,
    ("POST", "/api/stock/reservations/allocate"): OPERATOR,
    ("POST", "/api/stock/reservations/{reservation_id}/release"): OPERATOR,
    ("POST", "/api/stock/reservations/{reservation_id}/commit"): OPERATOR,
    # carts: the customer's
    ("POST", "/api/carts"): PUBLIC,
    ("GET", "/api/carts/{cart_id}"): PUBLIC,
    ("POST", "/api/carts/{cart_id}/items"): PUBLIC,
    ("PUT", "/api/carts/{cart_id}/items/{product_variant_id}"): PUBLIC,
    ("DELETE", "/api/carts/{cart_id}/items/{product_variant_id}"): PUBLIC,
    ("POST", "/api/carts/{cart_id}/clear"): PUBLIC,
    ("POST", "/api/carts/{cart_id}/checkout"): PUBLIC,
    # orders: placing one, reading and cancelling it by its (unguessable) id are the customer's
    ("GET", "/api/orders"): OPERATOR,
    ("POST", "/api/orders"): PUBLIC,
    ("GET", "/api/orders/{order_id}"): PUBLIC,
    ("GET", "/api/orders/{order_id}/workflow"): OPERATOR,
    # the actions on an order: each spec says who may ask for it
    **{
        ("POST", f"/api/orders/{{order_id}}/{spec.action.value}"): OPERATOR
        if spec.caller is ActionCaller.OPERATOR
        else PUBLIC
        for spec in ACTIONS
    },
    # payments: a customer starts one for an order awaiting payment; the provider's side is the operators'
    ("GET", "/api/payments"): OPERATOR,
    ("POST", "/api/payments"): PUBLIC,
    ("GET", "/api/payments/{payment_id}"): OPERATOR,
    ("POST", "/api/payments/{payment_id}/succeed"): OPERATOR,
    ("POST", "/api/payments/{payment_id}/fail"): OPERATOR,
    # re-reading a payment's PaymentIntent changes nothing the provider does not say: anyone may ask
    ("POST", "/api/payments/{payment_id}/refresh"): PUBLIC,
    ("GET", "/api/orders/{order_id}/payments"): OPERATOR,
    # the provider's webhooks: anyone may post; only a valid signature is believed
    ("POST", "/api/webhooks/stripe"): PUBLIC,
    # shipments: all of it
    ("GET", "/api/shipments"): OPERATOR,
    ("POST", "/api/shipments"): OPERATOR,
    ("GET", "/api/shipments/{shipment_id}"): OPERATOR,
    ("POST", "/api/shipments/{shipment_id}/ship"): OPERATOR,
    ("POST", "/api/shipments/{shipment_id}/cancel"): OPERATOR,
    # the storefront's pages: the shopper's, as the public API routes they call
    ("GET", "/"): PUBLIC,
    ("GET", "/products/{product_id}"): PUBLIC,
    ("GET", "/cart"): PUBLIC,
    ("POST", "/cart/items"): PUBLIC,
    ("POST", "/cart/items/{variant_id}"): PUBLIC,
    ("POST", "/cart/items/{variant_id}/remove"): PUBLIC,
    ("GET", "/checkout"): PUBLIC,
    ("POST", "/checkout"): PUBLIC,
    ("GET", "/orders/{order_id}"): PUBLIC,
    ("GET", "/orders/{order_id}/live"): PUBLIC,
    ("POST", "/orders/{order_id}/pay"): PUBLIC,
    ("GET", "/orders/{order_id}/payments/{payment_id}/return"): PUBLIC,
    ("POST", "/orders/{order_id}/cancel"): PUBLIC,
    # the operator console: the login form is open, every other page needs a console session
    ("GET", "/ops/login"): PUBLIC,
    ("POST", "/ops/login"): PUBLIC,
    ("POST", "/ops/logout"): CONSOLE,
    ("GET", "/ops"): CONSOLE,
    ("GET", "/ops/orders"): CONSOLE,
    ("GET", "/ops/orders/{order_id}"): CONSOLE,
    ("POST", "/ops/orders/{order_id}/ship"): CONSOLE,
    ("POST", "/ops/orders/{order_id}/{action}"): CONSOLE,
    ("GET", "/ops/stock"): CONSOLE,
    ("POST", "/ops/stock/receipts"): CONSOLE,
    ("GET", "/ops/catalog"): CONSOLE,
    ("POST", "/ops/catalog/products"): CONSOLE,
    ("POST", "/ops/catalog/products/{product_id}/variants"): CONSOLE,
    ("POST", "/ops/catalog/products/{product_id}/publish"): CONSOLE,
    ("POST", "/ops/catalog/products/{product_id}/archive"): CONSOLE,
}

OPERATOR_ROUTES = sorted(route for route, caller in ROUTES.items() if caller is OPERATOR)
WRONG_CREDENTIALS: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer not-the-token"},
    {"Authorization": "Bearer "},
    {"Authorization": f"Basic {OPERATOR_TOKEN}"},
    {"Authorization": OPERATOR_TOKEN},
]

# Bodies FastAPI refuses while it parses them, before any dependency runs.
BAD_BODIES = [(b"{not json", "application/json"), (b'{"name": "\xff"}', "application/json"), (b"x=1", "text/plain")]

Json = dict[str, Any]


def _app() -> FastAPI:
    # create_app connects to nothing until its lifespan runs: its routes and schema can be read without servers.
    return create_app(Settings(_env_file=None, database_url="postgresql+asyncpg://schema@127.0.0.1/none"))


def _served(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, the routes of included routers and those outside the schema too."""
    served = set()
    for route in iter_route_contexts(app.routes):
        served |= {(method, str(route.path)) for method in route.methods or () if method != "HEAD"}
    return served


def _url(path: str) -> str:
    """The path with a value in every parameter: a fresh id (it names nothing), or a SKU."""
    return path.format_map({"sku": "ARM-BLK"} | {name: uuid.uuid4() for name in _ids(path)})


def _ids(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part != "{sku}"]


def test_every_route_has_a_decision() -> None:
    """A route the app serves that is not in ROUTES (or a decision for a route that is gone) fails here."""
    assert _served(_app()) == set(ROUTES)


def test_cancelling_is_the_one_action_a_customer_may_ask_for() -> None:
    """As the seed's contract says; every other action on an order is an operator's."""
    public = {path for (method, path), caller in ROUTES.items() if caller is PUBLIC and method == "POST"}
    assert {path for path in public if path.startswith("/api/orders/{order_id}/")} == {"/api/orders/{order_id}/cancel"}


def test_the_schema_documents_the_bearer_scheme_and_the_401_of_operator_routes_only() -> None:
    schema = _app().openapi()
    assert schema["components"]["securitySchemes"] == {
        "operatorToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator token (one of `OPERATOR_TOKENS`), sent as `Authorization: Bearer <token>`.",
        }
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            caller = ROUTES[(method.upper(), path)]
            if caller is OPERATOR:
                assert operation["security"] == [{"operatorToken": []}], (method, path)
                unauthorized = operation["responses"]["401"]
                assert unauthorized["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }
                assert "WWW-Authenticate" in unauthorized["headers"]
            else:
                assert "security" not in operation, (method, path)
                assert "401" not in operation["responses"], (method, path)


def _assert_unauthorized(response: httpx.Response) -> None:
    request = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == 401, f"{request}: {response.status_code} {response.text}"
    assert response.headers["www-authenticate"] == "Bearer", request
    body = response.json()
    assert body["error"] == "unauthorized" and body["message"], request


async def test_every_operator_route_answers_401_without_a_valid_token(settings: Settings) -> None:
    """Whatever else is wrong with the request: a malformed JSON body or an id that names nothing."""
    app = create_app(settings)
    # one client guesses on every route here: the throttle of wrong tokens has its own test below
    app.state.auth_failures = FailureThrottle(limit=1_000_000)
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as anonymous:
        for method, path in OPERATOR_ROUTES:
            for headers in WRONG_CREDENTIALS:
                _assert_unauthorized(await anonymous.request(method, _url(path), headers=headers))
            if method in ("POST", "PUT"):
                for content, content_type in BAD_BODIES:
                    response = await anonymous.request(
                        method, _url(path), content=content, headers={"content-type": content_type}
                    )
                    _assert_unauthorized(response)


async def test_every_console_page_sends_a_caller_without_a_session_to_the_login_form(settings: Settings) -> None:
    """The bearer token opens no console page either: the console asks for its own session."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        for method, path in sorted(route for route, caller in ROUTES.items() if caller is CONSOLE):
            response = await client.request(method, _url(path))
            request = f"{method} {path}"
            assert response.status_code in (302, 303), f"{request}: {response.status_code} {response.text[:200]}"
            assert response.headers["location"].startswith("/ops/login"), request


async def test_the_token_opens_the_operator_routes(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/warehouses")).status_code == 200
    created = await api.post("/api/warehouses", json={"code": "OPS", "name": "Operators'"})
    assert created.status_code == 201, created.text
    assert (await api.get("/metrics")).status_code == 200


async def test_the_metrics_are_an_operator_route(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as anonymous:
        _assert_unauthorized(await anonymous.get("/metrics"))


async def test_any_of_several_tokens_is_accepted_so_a_token_rotates_without_downtime(settings: Settings) -> None:
    old, new = "an-old-operator-token-of-32-characters", "a-new-operator-token-of-32-characters"
    settings.operator_tokens = [old, new]
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as client:
        for token in (old, new):
            response = await client.get("/api/warehouses", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
        _assert_unauthorized(await client.get("/api/warehouses", headers={"Authorization": "Bearer retired"}))


async def test_open_mode_lets_every_caller_through_as_the_seed_did(settings: Settings) -> None:
    settings.auth_mode = "open"
    settings.operator_tokens = []
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as anonymous:
        assert (await anonymous.get("/api/warehouses")).status_code == 200
        created = await anonymous.post("/api/warehouses", json={"code": "SEED", "name": "Seed"})
        assert created.status_code == 201, created.text
        assert (await anonymous.get("/metrics")).status_code == 200
        malformed = await anonymous.post("/api/warehouses", content=b"{", headers={"content-type": "application/json"})
        assert malformed.json()["error"] == "malformed_json"


async def test_a_token_mode_api_without_any_token_lets_no_operator_in(settings: Settings) -> None:
    settings.operator_tokens = []
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        _assert_unauthorized(await client.get("/api/warehouses"))


@pytest.fixture
async def shop(
    order_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The full stack (API and worker on the dev server), with an operator's client and a customer's."""
    from worker import create_worker

    app = create_app(order_settings)
    async with create_worker(dev_env.client, order_settings, sessionmaker), app.router.lifespan_context(app):
        async with asgi_client(app) as operator, asgi_client(app, operator=False) as customer:
            yield operator, customer


ARM_BLK = "9572fb9d-f059-401e-9041-7fc75f8cb414"  # demo variant, 6900 USD


def _payment(order_id: object) -> Json:
    return {"orderId": str(order_id), "amountMinor": 6900, "currency": "USD", "provider": "Manual"}


async def test_a_customer_pays_only_an_order_awaiting_payment(
    shop: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    operator, customer = shop
    line = {"productVariantId": ARM_BLK, "quantity": 1}
    placed = await customer.post(
        "/api/orders", json={"customerName": "Ada", "customerEmail": "ada@example.com", "items": [line]}
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (await customer.get(f"/api/orders/{order['id']}")).json()["status"] == "PendingPayment"

    payment = await customer.post("/api/payments", json=_payment(order["id"]))
    assert payment.status_code == 201, payment.text
    _assert_unauthorized(await customer.post(f"/api/payments/{payment.json()['id']}/succeed", json={}))
    paid = await operator.post(f"/api/payments/{payment.json()['id']}/succeed", json={})
    assert paid.status_code == 200, paid.text

    for order_id in (order["id"], uuid.uuid4()):  # paid now; and one that does not exist
        refused = await customer.post("/api/payments", json=_payment(order_id))
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "order_not_awaiting_payment"
    # The operator (the payment provider's side) records any payment, as the seed does.
    assert (await operator.post("/api/payments", json=_payment(uuid.uuid4()))).status_code == 201


async def test_public_routes_answer_a_caller_without_a_token(
    shop: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """Customers' routes never ask for credentials, whatever the request (here: ids that name nothing)."""
    _, customer = shop
    for (method, path), caller in sorted(ROUTES.items()):
        if caller is PUBLIC:
            response = await customer.request(method, _url(path))
            # The login form refuses a post without its form's CSRF token (403): a forged form, not a credential.
            refusals = (401,) if (method, path) == ("POST", "/ops/login") else (401, 403)
            assert response.status_code not in refusals and response.status_code < 500, (method, path, response.text)
    assert (await customer.get("/api/products")).status_code == 200
    cart = await customer.post("/api/carts")
    assert cart.status_code == 201, cart.text


async def test_the_sixth_wrong_bearer_token_in_a_minute_is_throttled(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as guesser:
        wrong = {"Authorization": "Bearer a-wrong-guess"}
        for _ in range(5):
            _assert_unauthorized(await guesser.get("/api/warehouses", headers=wrong))

        throttled = await guesser.get("/api/warehouses", headers=wrong)

        assert throttled.status_code == 429, throttled.text
        assert throttled.json()["error"] == "too_many_requests" and int(throttled.headers["retry-after"]) > 0
        right = await guesser.get("/api/warehouses", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        assert right.status_code == 429
        # no header is no guess: an anonymous caller of a public route is not affected
        assert (await guesser.get("/health")).status_code == 200


async def test_wrong_tokens_on_a_public_route_that_serves_operators_more_are_throttled_too(settings: Settings) -> None:
    """POST /api/payments lets an operator record a payment for any order: guesses there count the same."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as guesser:
        wrong = {"Authorization": "Bearer a-wrong-guess"}
        for _ in range(5):
            refused = await guesser.post("/api/payments", json=_payment(uuid.uuid4()), headers=wrong)
            assert refused.status_code == 400, refused.text  # a customer's: the order is not awaiting payment

        right = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        still_a_customer = await guesser.post("/api/payments", json=_payment(uuid.uuid4()), headers=right)

        assert still_a_customer.status_code == 400, still_a_customer.text
        assert (await guesser.get("/api/warehouses", headers=right)).status_code == 429
