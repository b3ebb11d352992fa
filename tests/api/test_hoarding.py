"""Anti-hoarding over HTTP: units per item, an email's orders awaiting payment, anonymous writes per client.

A customer (no token) meets the caps of the settings' defaults; an operator's token meets none. The order
tests run the full stack (API and worker on the dev server); the refusals that come before any workflow, and
the write bucket, need only the API.
"""

from collections.abc import AsyncIterator
from ipaddress import ip_network

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.throttle import TokenBuckets
from stack.settings import Settings
from tests.conftest import asgi_client
from tests.demo import ARM_BLK, NOTE_A5
from tests.http import Json, ok, place, refused, stock

CAPS = {"max_units_per_line": 10, "max_open_orders_per_email": 3}  # the defaults, said here for the reader


def _order(quantity: int, email: str = "eve@example.com", variant: str = ARM_BLK) -> Json:
    return {
        "customerName": "Eve",
        "customerEmail": email,
        "items": [{"productVariantId": variant, "quantity": quantity}],
    }


@pytest.fixture
async def shop(
    order_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The full stack with the default caps, an operator's client and a customer's."""
    from worker import create_worker

    settings = order_settings.model_copy(update=CAPS)
    app = create_app(settings)
    async with create_worker(dev_env.client, settings, sessionmaker), app.router.lifespan_context(app):
        async with asgi_client(app) as operator, asgi_client(app, operator=False) as customer:
            yield operator, customer


@pytest.fixture
async def anonymous(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone (Temporal unreachable) with the default caps, as a customer."""
    app = create_app(settings.model_copy(update=CAPS))
    async with app.router.lifespan_context(app), asgi_client(app, operator=False) as client:
        yield client


async def test_the_defaults_are_the_secure_ones() -> None:
    defaults = Settings(_env_file=None)
    assert (defaults.max_units_per_line, defaults.max_open_orders_per_email) == (10, 3)
    assert defaults.anon_writes_per_minute == 60 and defaults.trusted_proxies == []


async def test_an_order_of_95_units_is_refused_before_anything_is_reserved(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/api/orders", json=_order(95))
    refused(response, 400, "too_many_units")
    assert "at most 10 units" in response.json()["message"]
    split = _order(6)
    split["items"].append({"productVariantId": ARM_BLK, "quantity": 5})  # the same item over two lines
    refused(await anonymous.post("/api/orders", json=split), 400, "too_many_units")


async def test_a_cart_holds_at_most_the_cap_of_one_item(anonymous: httpx.AsyncClient) -> None:
    cart = ok(await anonymous.post("/api/carts"), 201)
    items = f"/api/carts/{cart['id']}/items"
    refused(await anonymous.post(items, json={"productVariantId": ARM_BLK, "quantity": 11}), 400, "too_many_units")
    ok(await anonymous.post(items, json={"productVariantId": ARM_BLK, "quantity": 6}))
    refused(await anonymous.post(items, json={"productVariantId": ARM_BLK, "quantity": 5}), 400, "too_many_units")
    ok(await anonymous.post(items, json={"productVariantId": ARM_BLK, "quantity": 4}))  # merged: 10, the cap
    refused(await anonymous.put(f"{items}/{ARM_BLK}", json={"quantity": 11}), 400, "too_many_units")
    lines = ok(await anonymous.get(f"/api/carts/{cart['id']}"))["items"]
    assert [line["quantity"] for line in lines] == [10]


async def test_an_operator_has_no_caps_and_a_customer_cannot_check_out_what_an_operator_put_in(
    shop: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    operator, customer = shop
    before = await stock(operator, "ARM-BLK")
    big = ok(await operator.post("/api/orders", json=_order(12)), 201)
    assert big["items"][0]["quantity"] == 12

    cart = ok(await customer.post("/api/carts"), 201)
    ok(await operator.post(f"/api/carts/{cart['id']}/items", json={"productVariantId": ARM_BLK, "quantity": 11}))
    checkout = await customer.post(
        f"/api/carts/{cart['id']}/checkout", json={"customerName": "Eve", "customerEmail": "e@x"}
    )
    refused(checkout, 400, "too_many_units")
    assert await stock(operator, "ARM-BLK") == (before[0], before[1] + 12)  # only the operator's order reserved


async def test_a_fourth_order_awaiting_payment_for_one_email_is_refused_until_one_is_settled(
    shop: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    operator, customer = shop
    first = await place(customer, (ARM_BLK, 1), email="eve@example.com")
    await place(customer, (NOTE_A5, 1), email="Eve@Example.com")
    keyed = {"Idempotency-Key": "eve-third-order"}
    third = await place(customer, (ARM_BLK, 1), email=" EVE@example.com ", headers=keyed)
    before = await stock(operator, "ARM-BLK")

    one_more = await customer.post("/api/orders", json=_order(1, email="eve@EXAMPLE.com"))
    refused(one_more, 400, "too_many_open_orders")
    assert "3 orders awaiting payment" in one_more.json()["message"]
    assert await stock(operator, "ARM-BLK") == before  # refused before a workflow started
    cart = ok(await customer.post("/api/carts"), 201)
    ok(await customer.post(f"/api/carts/{cart['id']}/items", json={"productVariantId": ARM_BLK, "quantity": 1}))
    body = {"customerName": "Eve", "customerEmail": "eve@example.com"}
    refused(await customer.post(f"/api/carts/{cart['id']}/checkout", json=body), 400, "too_many_open_orders")

    # a keyed retry of an order already placed is that order, not one more
    retry = {
        "customerName": "Ada Lovelace",  # the body `place` sent
        "customerEmail": " EVE@example.com ",
        "items": [{"productVariantId": ARM_BLK, "quantity": 1}],
    }
    assert ok(await customer.post("/api/orders", json=retry, headers=keyed), 201)["id"] == third["id"]
    # another email, and an operator, are not held back
    await place(customer, (ARM_BLK, 1), email="eve+shop@example.com")
    fourth = ok(await operator.post("/api/orders", json=_order(1, email="eve@example.com")), 201)

    # every order awaiting payment counts, an operator's too: two settled, one more may be placed
    ok(await customer.post(f"/api/orders/{first['id']}/cancel"))
    ok(await customer.post(f"/api/orders/{fourth['id']}/cancel"))
    ok(await customer.post(f"/api/carts/{cart['id']}/checkout", json=body), 201)


@pytest.fixture
def clock() -> list[float]:
    """The buckets' clock, stopped: a write waits for the test to move it, never for the machine."""
    return [1000.0]


def _bucketed(settings: Settings, clock: list[float], **update: object) -> FastAPI:
    app = create_app(settings.model_copy(update={"anon_writes_per_minute": 60, **update}))
    writes = app.state.anonymous_writes
    assert isinstance(writes, TokenBuckets)
    writes.clock = lambda: clock[0]
    return app


async def test_the_61st_anonymous_write_in_a_minute_waits_and_an_operators_does_not(
    settings: Settings, clock: list[float]
) -> None:
    app = _bucketed(settings, clock)
    async with app.router.lifespan_context(app):
        async with asgi_client(app, operator=False) as customer, asgi_client(app) as operator:
            for _ in range(60):
                ok(await customer.post("/api/carts"), 201)
            assert (await customer.get("/api/products")).status_code == 200  # reads are not counted
            over = await customer.post("/api/carts")
            refused(over, 429, "too_many_requests")
            assert over.headers["retry-after"] == "1"
            form = await customer.post("/cart/items", data={"variant_id": ARM_BLK})  # the shop's: a page
            assert form.status_code == 429 and form.headers["retry-after"] == "1"
            assert "Too many requests" in form.text and form.headers["x-frame-options"] == "DENY"
            ok(await operator.post("/api/carts"), 201)
            clock[0] += 1
            ok(await customer.post("/api/carts"), 201)
            refused(await customer.post("/api/carts"), 429, "too_many_requests")


async def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(
    settings: Settings, clock: list[float]
) -> None:
    # httpx's ASGI transport is the peer 127.0.0.1
    for proxies, distinct in (("127.0.0.0/8", True), ("", False), ("10.0.0.0/8", False)):
        networks = [ip_network(proxies)] if proxies else []
        app = _bucketed(settings, clock, trusted_proxies=networks, anon_writes_per_minute=1)
        async with app.router.lifespan_context(app), asgi_client(app, operator=False) as customer:
            first = await customer.post("/api/carts", headers={"X-Forwarded-For": "198.51.100.1"})
            assert first.status_code == 201, first.text
            second = await customer.post("/api/carts", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.2"})
            assert (second.status_code == 201) is distinct, (proxies, second.text)


async def test_the_schema_says_which_operations_may_answer_429(settings: Settings) -> None:
    schema = create_app(settings.model_copy(update={"anon_writes_per_minute": 60})).openapi()
    refused = schema["paths"]["/api/carts"]["post"]["responses"]["429"]
    assert "Retry-After" in refused["headers"]
    assert "429" not in schema["paths"]["/api/products"]["get"]["responses"]
    assert "429" not in create_app(settings).openapi()["paths"]["/api/carts"]["post"]["responses"]
