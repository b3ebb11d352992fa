"""No request holds a pooled connection while it waits on an order's workflow or on another request's lock
(issue 22, item 1): a storm of actions on one order and on random ids leaves the other routes answering at their
normal pace, on a pool small enough that a few held connections would starve them."""

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from services.payment.provider import PaymentProvider
from services.payment.stripe_provider import LOCALSTRIPE_API_KEY
from stack.settings import Settings
from tests.conftest import asgi_client
from tests.demo import ARM_BLK
from tests.http import Json, place
from tests.provider import LocalStripe

POOL_SIZE = 2  # four connections with the overflow: four requests holding one across a wait starve the rest
ACTIONS_ON_ONE_ORDER = 100
ACTIONS_ON_RANDOM_IDS = 100
BASELINE_ROUNDS = 15
# During the storm a probe's median stays within this many times its median before it (both measured here, on
# the same machine): a storm that keeps the event loop busy slows it a few times, a starved pool by the length of
# the storm (measured: 3x against 2,000x with one connection held across each action's update; its /ready 503s).
SLOWDOWN_ALLOWED = 20

Clients = tuple[httpx.AsyncClient, httpx.AsyncClient]  # (operator, anonymous)
PROVIDER_LATENCY = 0.3  # seconds: a real provider answers across the Internet, localstripe in a millisecond


class AtStripesPace:
    """The localstripe's adapter, answering as slowly as a provider across the Internet: a request that held a
    connection (or a lock others wait for with theirs) while the provider answers would hold it that long."""

    def __init__(self, provider: PaymentProvider) -> None:
        self._provider = provider
        self.name = provider.name

    def __getattr__(self, call: str) -> Callable[..., Awaitable[Any]]:
        answer = getattr(self._provider, call)

        async def slowly(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(PROVIDER_LATENCY)
            return await answer(*args, **kwargs)

        return slowly


@pytest.fixture
async def small_pool(
    order_settings: Settings,
    dev_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    localstripe: LocalStripe,
) -> AsyncIterator[Clients]:
    """The API on a pool of POOL_SIZE, paying through a localstripe, with a worker of its own pool (the worker is
    not what is measured)."""
    from worker import create_worker

    settings = order_settings.model_copy(
        update={
            "db_pool_size": POOL_SIZE,
            "stripe_api_base": localstripe.base_url,
            "stripe_api_key": SecretStr(LOCALSTRIPE_API_KEY),
        }
    )
    provider = AtStripesPace(localstripe.provider())
    app = create_app(settings, payment_provider=cast(PaymentProvider, provider))
    worker = create_worker(dev_env.client, settings, sessionmaker, provider=cast(PaymentProvider, provider))
    async with worker, app.router.lifespan_context(app):
        async with asgi_client(app) as operator, asgi_client(app, operator=False) as anonymous:
            yield operator, anonymous


Action = Callable[[], Awaitable[httpx.Response]]


def _storm(operator: httpx.AsyncClient, anonymous: httpx.AsyncClient, order: Json) -> list[Action]:
    """Cancel, mark-paid, ship, the shop's pay button (the order's PaymentIntent) and pay (a Manual payment
    created anonymously, succeeded by the operator) on one order, and the same kinds of action on ids that name
    nothing."""
    order_id = order["id"]

    async def pay() -> httpx.Response:
        body = {"orderId": order_id, "amountMinor": order["totalAmountMinor"], "currency": order["currency"]}
        created = await anonymous.post("/api/payments", json={**body, "provider": "Manual"})
        if created.status_code != 201:
            return created
        return await operator.post(f"/api/payments/{created.json()['id']}/succeed", json={"providerReference": "R"})

    on_one: list[Action] = [
        lambda: anonymous.post(f"/api/orders/{order_id}/cancel"),
        # the shop's pay button: the order's one PaymentIntent, opened at the provider
        lambda: anonymous.post("/api/payments", json={"orderId": order_id, "provider": "Stripe"}),
        lambda: anonymous.post("/api/payments", json={"orderId": order_id, "provider": "Stripe"}),
        lambda: operator.post(f"/api/orders/{order_id}/pay"),
        lambda: operator.post(f"/api/orders/{order_id}/ship"),
        pay,
    ]

    def on_random() -> list[Action]:
        some = str(uuid.uuid4())
        return [
            lambda: anonymous.post(f"/api/orders/{some}/cancel"),
            lambda: operator.post(f"/api/orders/{some}/pay"),
            lambda: operator.post(f"/api/payments/{some}/succeed"),
            lambda: operator.post(f"/api/shipments/{some}/ship"),
        ]

    rng = random.Random(22)
    actions = [rng.choice(on_one) for _ in range(ACTIONS_ON_ONE_ORDER)]
    actions += [rng.choice(on_random()) for _ in range(ACTIONS_ON_RANDOM_IDS)]
    rng.shuffle(actions)
    return actions


async def _probe(client: httpx.AsyncClient) -> list[tuple[str, int, float]]:
    """One round of the reads every visitor makes: the catalog and the readiness check (it reads the database)."""
    answers = []
    for path in ("/api/products", "/ready"):
        started = time.perf_counter()
        response = await client.get(path)
        answers.append((path, response.status_code, time.perf_counter() - started))
    return answers


async def test_a_storm_on_one_order_leaves_the_other_routes_answering(small_pool: Clients) -> None:
    operator, anonymous = small_pool
    order = await place(anonymous, (ARM_BLK, 1))
    await _the_other_routes_keep_their_pace(anonymous, _storm(operator, anonymous, order))


async def test_sixty_clicks_of_one_pay_button_leave_the_other_routes_answering(small_pool: Clients) -> None:
    """The shop's pay button clicked 60 times at once on one order: every click gets the order's one intent."""
    _, anonymous = small_pool
    order = await place(anonymous, (ARM_BLK, 1))
    body = {"orderId": order["id"], "provider": "Stripe"}
    clicks: list[Action] = [lambda: anonymous.post("/api/payments", json=body)] * 60
    answers = await _the_other_routes_keep_their_pace(anonymous, clicks)
    assert {a.json()["providerId"] for a in answers if a.status_code == 201} != set()


async def _the_other_routes_keep_their_pace(client: httpx.AsyncClient, actions: list[Action]) -> list[httpx.Response]:
    """Run `actions` at once while probing the other routes; none of them is starved of the pool."""
    baseline = [answer for _ in range(BASELINE_ROUNDS) for answer in await _probe(client)]
    assert all(status == 200 for _, status, _ in baseline), baseline
    normal = {path: statistics.median(t for p, _, t in baseline if p == path) for path in ("/api/products", "/ready")}

    storm = asyncio.gather(*(action() for action in actions))
    during: list[tuple[str, int, float]] = []
    while not storm.done():
        during += await _probe(client)
    answers = await storm

    # Refusals, 404s and Temporal's own "too many updates on this run" (429) are answers; a starved pool is not.
    starved = [a.text for a in answers if a.status_code == 500 or error_of(a) == "database_busy"]
    assert starved == []
    assert during, "the storm ended before one probe"
    assert [(path, status) for path, status, _ in during if status != 200] == []
    typical = {path: statistics.median(t for p, _, t in during if p == path) for path in normal}
    assert all(typical[path] <= SLOWDOWN_ALLOWED * normal[path] for path in normal), (normal, typical)
    return list(answers)


def error_of(response: httpx.Response) -> str | None:
    body = response.json()
    return body.get("error") if isinstance(body, dict) else None
