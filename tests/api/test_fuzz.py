"""Every operation of the app's own OpenAPI schema, fuzzed by schemathesis against the real stack.

One stack serves the whole module: a fresh database with the demo data, the API (lifespan included) over
in-process ASGI and a worker on the session's Temporal dev server, so orders, payments and shipments really run
their workflows. (Built per operation, it would be built 49 times.) Every response must be no 5xx, have a
documented status code and content type, and match the documented body schema.

The API runs in token mode, as deployed: every case presents the operator token (schemathesis' auth for the
schema's `operatorToken` scheme), and `test_operator_operation_without_a_token` sends each operator operation's
cases without it and expects 401 and nothing else.

Random input alone rarely gets past the first check of an operation (every request field is optional and a
random id names nothing), so the generator is steered, without touching the schema:
- a path parameter is drawn from its random values and from values that exist: the demo data and resources
  made afresh for each operation (a cart, reservations, a pending and a paid order, payments, shipments);
- a generated JSON object body is sent as is, or laid over a valid body of the operation (whole, or one field
  of it), so a fuzzed field reaches the deep checks, the database and the workflows with the rest valid;
- a fuzz dictionary of edge values (NUL, over-long, int64 edges...) is mixed into every body field.
Examples are bounded and derandomized: a run is short and the same on every machine. For a deeper run, scale
the number of examples: `FUZZ_SCALE=10 .venv/bin/python -m pytest tests/api/test_fuzz.py`.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.guessing import FailureThrottle
from contracts.order import ACTIONS
from stack import postgres
from stack.db import create_engine, create_sessionmaker
from stack.settings import Settings
from tests.conftest import APP_SECRET, PAYLOAD_KEYS, asgi_client
from tests.operator import OPERATOR_TOKEN

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Operations that start or drive an order workflow cost round trips to Temporal: fewer examples for them.
WORKFLOW_TAGS = ["orders", "payments", "shipments"]
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
# Generated examples per operation; the run's time is about proportional to them. The steering below, not the
# count, gets a case past an operation's first check: a few choices per drawn value (raw, overlaid or one-field
# body; an existing or a random id; an edge value at 1 in 4) are each drawn several times in 20-25 cases.
PLAIN_EXAMPLES = 25 * SCALE
WORKFLOW_EXAMPLES = 20 * SCALE
# Without a token nothing is read before the 401, so a few cases per operation (each sent twice) show it.
ANONYMOUS_EXAMPLES = 8 * SCALE
PER_TEST = 3  # payments and shipments made for each operation's test

ARM_BLK = "9572fb9d-f059-401e-9041-7fc75f8cb414"  # demo variant, SKU ARM-BLK, 6900 USD, 100 units in stock
CUSTOMER = {"customerName": "Ada Lovelace", "customerEmail": "ada@example.com"}

Json = dict[str, Any]

# Filled by the `target` fixture; read by the hooks below when they draw.
EXISTING: dict[str, list[str]] = {}  # path parameter name -> values that name something
VALID_BODIES: dict[str, Json] = {}  # operation label -> a body it accepts


# A fuzz dictionary: values that have broken services like this one. Strings with NUL (PostgreSQL refuses them),
# longer than any column, that grow when upper-cased, or only blank; integers at the int32 and int64 edges.
EDGE_VALUES: list[str | int] = [
    *("\x00", "a\x00b", " \t ", "x" * 5000, "ß" * 101, "ﬃ" * 101, "\u202egnp.exe", "💳", "USD", "ARM-BLK"),
    *(0, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30),
]
EDGE_PROBABILITY = 0.25


def _edge_bindings(openapi: Json) -> Json:
    """Edge values for every body field (and field of a body's list items), the query and the SKU in the path."""
    keys = {"query.sku", "query.limit", "path.sku"}
    schemas = openapi["components"]["schemas"]
    for model in schemas.values():
        for name, prop in model.get("properties", {}).items():
            keys.add(f"body.{name}")
            for variant in prop.get("anyOf", [prop]):
                item = variant.get("items", {}).get("$ref", "").rpartition("/")[2]
                keys.update(f"body.{name}[*].{field}" for field in schemas.get(item, {}).get("properties", {}))
    return {key: {"dictionary": "edge", "probability": EDGE_PROBABILITY} for key in sorted(keys)}


# create_app connects to nothing until its lifespan runs, so its schema can be read at import time.
OPENAPI: Json = create_app(
    Settings(_env_file=None, database_url="postgresql+asyncpg://schema@127.0.0.1/none")  # type: ignore[call-arg]
).openapi()
schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=SchemathesisConfig.from_dict(
        {
            "dictionaries": {"edge": {"values": EDGE_VALUES}},
            "parameters": _edge_bindings(OPENAPI),
            "auth": {"openapi": {"operatorToken": {"bearer": OPERATOR_TOKEN}}},
        }
    ),
)


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: Any) -> st.SearchStrategy[Any]:
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {name: st.sampled_from([value, *EXISTING.get(name, [])]) for name, value in path_parameters.items()}
    )


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    valid = VALID_BODIES.get(context.operation.label) if context.operation else None
    if valid is None or not isinstance(body, dict):
        return st.just(body)
    one_field = [{**valid, key: body[key]} for key in body if key in valid]
    return st.sampled_from([body, {**valid, **body}, *one_field])


def _httpx_kwargs(case: schemathesis.Case) -> Json:
    """schemathesis serializes a case for `requests`; httpx calls a raw body `content`."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    assert not kwargs.get("cookies"), "the API documents no cookies"
    out: Json = {key: kwargs.get(key) for key in ("method", "url", "headers", "params")}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif "data" in kwargs:
        out["content" if isinstance(kwargs["data"], bytes | str) else "data"] = kwargs["data"]
    return out


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@dataclass
class Stack:
    """What every test of the module shares: the client, and ids made once."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient  # presents the operator token
    anonymous: httpx.AsyncClient  # the same app, without credentials
    warehouse: str
    location: str
    product: str
    variants: list[str]
    statuses: list[int] = field(default_factory=list)


async def _stack(loop: asyncio.AbstractEventLoop, api: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> Stack:
    """Stock to spare for fuzzed orders, and a product of our own for the fuzzer to publish and archive.

    The demo products stay out of its reach: archiving the one every order names would refuse all later orders.
    """
    warehouse = _ok(await api.get("/api/warehouses"))[0]["id"]
    location = _ok(await api.get("/api/locations", params={"warehouseId": warehouse}))[0]["id"]
    receipt = {"sku": "ARM-BLK", "warehouseId": warehouse, "locationId": location, "quantity": 10**12}
    _ok(await api.post("/api/stock/receipts", json=receipt))
    product = _ok(await api.post("/api/products", json={"name": "Fuzz", "slug": "fuzz-own", "categoryIds": []}), 201)
    variant = {"sku": "FUZZ-OWN", "name": "Own", "priceAmountMinor": 100, "currency": "USD"}
    _ok(await api.post(f"/api/products/{product['id']}/variants", json=variant), 201)
    variants = [v["id"] for p in _ok(await api.get("/api/products")) for v in p["variants"]]
    return Stack(loop, api, anonymous, warehouse, location, product["id"], variants)


async def _resources(stack: Stack, *, orders: bool) -> tuple[dict[str, list[str]], dict[str, Json]]:
    """Fresh resources for one operation's test, by path parameter name, and a valid body per operation.

    Fresh, because the previous operation's test may have cleared, cancelled or shipped the last ones.
    """
    api = stack.client
    line = {"productVariantId": ARM_BLK, "quantity": 1}
    cart = _ok(await api.post("/api/carts"), 201)["id"]
    _ok(await api.post(f"/api/carts/{cart}/items", json=line))
    allocation = {"sku": "ARM-BLK", "quantity": 1, "reference": "fuzz"}
    reservation = _ok(await api.post("/api/stock/reservations/allocate", json=allocation), 201)["id"]
    existing = {
        "cart_id": [cart],
        "product_id": [stack.product],
        "product_variant_id": stack.variants,
        "sku": ["ARM-BLK"],
        "reservation_id": [reservation],
    }
    stock = {"sku": "ARM-BLK", "warehouseId": stack.warehouse, "locationId": stack.location, "quantity": 1}
    variant = {"sku": "FUZZ-1", "name": "Fuzz", "priceAmountMinor": 100, "currency": "USD"}
    bodies: dict[str, Json] = {
        "POST /api/brands": {"name": "Fuzz", "slug": "fuzz"},
        "POST /api/categories": {"name": "Fuzz", "slug": "fuzz"},
        "POST /api/products": {"name": "Fuzz", "slug": "fuzz", "categoryIds": []},
        "POST /api/products/{product_id}/variants": variant,
        "POST /api/warehouses": {"code": "FUZZ", "name": "Fuzz"},
        "POST /api/locations": {"warehouseId": stack.warehouse, "code": "FUZZ-1"},
        "POST /api/stock/receipts": {**stock, "reason": "fuzz"},
        "POST /api/stock/reservations": {**stock, "reference": "fuzz"},
        "POST /api/stock/reservations/allocate": allocation,
        "POST /api/carts/{cart_id}/items": line,
        "PUT /api/carts/{cart_id}/items/{product_variant_id}": {"quantity": 2},
    }
    if not orders:
        return existing, bodies

    pending = _ok(await api.post("/api/orders", json={**CUSTOMER, "items": [line]}), 201)
    paid = _ok(await api.post("/api/orders", json={**CUSTOMER, "items": [line]}), 201)
    _ok(await api.post(f"/api/orders/{paid['id']}/mark-paid"))
    payment = {"orderId": pending["id"], "amountMinor": 6900, "currency": "USD", "provider": "Manual"}
    # Several of each: the first success of an operation's test uses one up, the next examples try another.
    payments = [_ok(await api.post("/api/payments", json=payment), 201)["id"] for _ in range(PER_TEST)]
    shipping = {"carrier": "DHL", "trackingNumber": "TRK-1"}
    shipment = {"orderId": paid["id"], **shipping}
    shipments = [_ok(await api.post("/api/shipments", json=shipment), 201)["id"] for _ in range(PER_TEST)]
    existing["order_id"] = [pending["id"], paid["id"]]
    existing["payment_id"] = payments
    existing["shipment_id"] = shipments
    existing["reservation_id"] += [item["inventoryReservationId"] for o in (pending, paid) for item in o["items"]]
    bodies |= {
        "POST /api/orders": {**CUSTOMER, "items": [line]},
        "POST /api/carts/{cart_id}/checkout": CUSTOMER,
        "POST /api/payments": payment,
        "POST /api/payments/{payment_id}/succeed": {"providerReference": "REF-1"},
        "POST /api/payments/{payment_id}/fail": {"failureReason": "declined"},
        "POST /api/shipments": shipment,
        "POST /api/shipments/{shipment_id}/ship": shipping,
    }
    return existing, bodies


@pytest.fixture(scope="module")
async def stack(
    postgres_server: postgres.EmbeddedPostgres, template_database: str, dev_env: WorkflowEnvironment
) -> AsyncIterator[Stack]:
    """As `stack_api` (conftest), once for the module: a fresh database, the demo data, the API and a worker."""
    from worker import create_worker

    database = f"fuzz_{uuid.uuid4().hex[:16]}"
    await postgres.create_database(postgres_server.dsn(), database, template=template_database)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        auth_mode="token",
        operator_tokens=[OPERATOR_TOKEN],
        database_url=postgres_server.url(database),
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_task_queue=f"fuzz-{uuid.uuid4()}",
        seed_demo_data=True,
        app_secret=APP_SECRET,
        payload_keys=PAYLOAD_KEYS,
        anon_writes_per_minute=0,  # thousands of anonymous cases from one address; tests/api/test_hoarding.py
    )
    engine = create_engine(settings.require_database_url())
    app = create_app(settings)
    # one client sends every negative case: the throttle of wrong tokens is tests/api/test_auth.py's
    app.state.auth_failures = FailureThrottle(limit=1_000_000)
    try:
        async with create_worker(dev_env.client, settings, create_sessionmaker(engine)):
            async with app.router.lifespan_context(app):
                async with asgi_client(app) as client, asgi_client(app, operator=False) as anonymous:
                    stack = await _stack(asyncio.get_running_loop(), client, anonymous)
                    yield stack
    finally:
        await engine.dispose()
        await postgres.drop_database(postgres_server.dsn(), database)
    server_errors = sum(1 for status in stack.statuses if status >= 500)
    print(f"\nfuzz: {len(stack.statuses)} requests, {server_errors} answered 5xx")


async def _target(stack: Stack, *, orders: bool) -> AsyncIterator[Stack]:
    existing, bodies = await _resources(stack, orders=orders)
    EXISTING.update(existing)
    VALID_BODIES.update(bodies)
    try:
        yield stack
    finally:
        EXISTING.clear()
        VALID_BODIES.clear()


@pytest.fixture
async def target(stack: Stack) -> AsyncIterator[Stack]:
    async for target in _target(stack, orders=False):
        yield target


@pytest.fixture
async def workflow_target(stack: Stack) -> AsyncIterator[Stack]:
    async for target in _target(stack, orders=True):
        yield target


def _is_operator_operation(context: Any) -> bool:
    """Whether the operation (of a case, or of a filter's context) needs the operator token."""
    return "security" in context.operation.definition.raw


def _send(stack: Stack, case: schemathesis.Case) -> httpx.Response:
    kwargs = _httpx_kwargs(case)
    response = stack.loop.run_until_complete(stack.client.request(**kwargs))
    stack.statuses.append(response.status_code)
    sent = (kwargs["headers"] or {}).get("Authorization")  # None: the client's own, the operator token
    if _is_operator_operation(case) and sent not in (None, f"Bearer {OPERATOR_TOKEN}"):
        # schemathesis' own negative cases (empty or mangled credentials) get the documented 401, nothing else
        assert response.status_code == 401, f"{case.method} {case.path} with {sent!r}: {response.status_code}"
    return response


def _fuzz(stack: Stack, case: schemathesis.Case) -> None:
    response = _send(stack, case)
    case.validate_response(response, checks=CHECKS)


FUZZ_SETTINGS = hypothesis.settings(
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: every step is a real request (one that hangs costs the action timeout), and the failure
    # report already names the request that failed, with a curl command to replay it.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    # The module-scoped stack is shared on purpose, and data generation is as slow as the schema makes it.
    suppress_health_check=list(hypothesis.HealthCheck),
)


@schema.exclude(tag=WORKFLOW_TAGS).parametrize()
@hypothesis.settings(FUZZ_SETTINGS, max_examples=PLAIN_EXAMPLES)
def test_operation(case: schemathesis.Case, target: Stack) -> None:
    _fuzz(target, case)


@schema.include(tag=WORKFLOW_TAGS).parametrize()
@hypothesis.settings(FUZZ_SETTINGS, max_examples=WORKFLOW_EXAMPLES)
def test_workflow_operation(case: schemathesis.Case, workflow_target: Stack) -> None:
    _fuzz(workflow_target, case)


@schema.include(func=_is_operator_operation).parametrize()
@hypothesis.settings(FUZZ_SETTINGS, max_examples=ANONYMOUS_EXAMPLES)
def test_operator_operation_without_a_token(case: schemathesis.Case, target: Stack) -> None:
    """Whatever the request, an operator operation tells a caller without a valid token 401 and nothing else."""
    kwargs = _httpx_kwargs(case)
    if kwargs["method"].upper() != case.operation.method.upper():
        return  # schemathesis' probe of an undocumented method (TRACE...): no operation, the router's 405
    headers = {name: value for name, value in (kwargs["headers"] or {}).items() if name.lower() != "authorization"}
    for credentials in ({}, {"Authorization": "Bearer not-the-token"}):
        request = target.anonymous.request(**{**kwargs, "headers": headers | credentials})
        response = target.loop.run_until_complete(request)
        target.statuses.append(response.status_code)
        assert response.status_code == 401, f"{case.as_curl_command()}: {response.status_code} {response.text}"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthorized"


def test_the_schema_documents_the_error_body_and_no_422() -> None:
    """Binding failures are 400 here, so FastAPI's generated 422 must not be in the schema clients read."""
    operations = [operation for path in OPENAPI["paths"].values() for operation in path.values()]
    assert len(operations) == 50 + len(ACTIONS)  # an operation per order action, and 50 others
    # the only 422 is an Idempotency-Key reused for another request, in the one error body
    assert not [
        operation["operationId"]
        for operation in operations
        if "422" in operation["responses"]
        and operation["responses"]["422"]["content"]["application/json"]["schema"]
        != {"$ref": "#/components/schemas/ErrorBody"}
    ]
    assert "HTTPValidationError" not in OPENAPI["components"]["schemas"]
    refused = OPENAPI["paths"]["/api/orders/{order_id}/cancel"]["post"]["responses"]
    assert set(refused) == {"200", "400", "404", "409", "422", "429", "503"}
    body = refused["400"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ErrorBody"}
    assert OPENAPI["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]
