"""Honest answers (issue 11, item 3): never 200 unless the change happened, never a 500 for a busy or missing
dependency, and no exception text in any answer — a stable code, a message and a request id the logs carry.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from stack.settings import Settings
from tests.demo import ARM_BLK, NOTE_A5
from tests.http import ok, place, refused
from tests.orders import order_input
from workflows.order import OrderWorkflow, workflow_id

SECRET_SQL = "SELECT secret_column FROM ordering.orders WHERE customer_email = 'ada@example.com'"

_probe_router = APIRouter()


@_probe_router.post("/api/probe/crash")
async def _crash() -> None:
    raise RuntimeError(SECRET_SQL)


@_probe_router.post("/api/probe/pool")
async def _pool_exhausted() -> None:
    raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached, connection timed out, timeout 30.00")


@_probe_router.post("/api/probe/busy")
async def _busy() -> None:
    raise RPCError(
        "limit on number of concurrent in-flight updates has been reached", RPCStatusCode.RESOURCE_EXHAUSTED, b""
    )


@pytest.fixture
async def probe_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.include_router(_probe_router)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_a_server_error_says_a_code_a_message_and_the_request_id_the_logs_carry(
    probe_api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = await probe_api.post("/api/probe/crash", headers={"X-Request-Id": "req-42"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-42"
    body = response.json()
    assert body["error"] == "internal_error" and body["requestId"] == "req-42"
    assert "secret_column" not in response.text and "RuntimeError" not in response.text
    assert any("req-42" in record.getMessage() for record in caplog.records)


async def test_every_response_gets_a_request_id(probe_api: httpx.AsyncClient) -> None:
    generated = await probe_api.get("/health")
    assert len(generated.headers["x-request-id"]) >= 16
    assert (await probe_api.get("/health")).headers["x-request-id"] != generated.headers["x-request-id"]
    unusable = await probe_api.get("/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert unusable.headers["x-request-id"] != "bad id\twith spaces"


async def test_an_exhausted_pool_is_503_and_a_busy_run_is_429(probe_api: httpx.AsyncClient) -> None:
    pool = await probe_api.post("/api/probe/pool")
    assert pool.status_code == 503 and pool.json()["error"] == "database_busy"
    assert "QueuePool" not in pool.text
    busy = await probe_api.post("/api/probe/busy")
    assert busy.status_code == 429 and busy.json()["error"] == "too_many_requests"
    assert int(busy.headers["retry-after"]) >= 1
    assert "in-flight" not in busy.text


async def test_ready_names_what_is_down_without_its_exception(api: httpx.AsyncClient) -> None:
    response = await api.get("/ready")  # Temporal is unreachable in these settings
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "temporal": "unreachable"}
    assert "Error" not in response.text and "127.0.0.1" not in response.text


async def test_actions_on_an_order_whose_run_was_terminated_answer_409_and_change_nothing(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    api = stack_api
    pending = await place(api, (NOTE_A5, 1))
    payment = (
        await api.post(
            "/api/payments",
            json={"orderId": pending["id"], "amountMinor": 1200, "currency": "USD", "provider": "Manual"},
        )
    ).json()
    paid = await place(api, (ARM_BLK, 1))
    paying = (
        await api.post(
            "/api/payments", json={"orderId": paid["id"], "amountMinor": 6900, "currency": "USD", "provider": "Manual"}
        )
    ).json()
    ok(await api.post(f"/api/payments/{paying['id']}/succeed", json={}))
    shipment = (await api.post("/api/shipments", json={"orderId": paid["id"]})).json()
    for order in (pending, paid):
        await dev_env.client.get_workflow_handle(workflow_id(uuid.UUID(order["id"]))).terminate("operator mistake")

    for action in ("cancel", "expire", "mark-paid"):
        refused(await api.post(f"/api/orders/{pending['id']}/{action}"), 409, "order_workflow_not_running")
    refused(await api.post(f"/api/payments/{payment['id']}/succeed", json={}), 409, "order_workflow_not_running")
    refused(await api.post(f"/api/shipments/{shipment['id']}/ship", json={}), 409, "order_workflow_not_running")
    refused(await api.post(f"/api/orders/{paid['id']}/mark-shipped"), 409, "order_workflow_not_running")

    assert (ok(await api.get(f"/api/payments/{payment['id']}")))["status"] == "Pending"
    assert (ok(await api.get(f"/api/shipments/{shipment['id']}")))["status"] == "Pending"
    assert (ok(await api.get(f"/api/orders/{pending['id']}")))["status"] == "PendingPayment"
    assert (ok(await api.get(f"/api/orders/{paid['id']}")))["status"] == "Paid"


async def test_too_many_actions_in_flight_on_one_order_answer_429(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """Temporal admits at most 10 updates in flight per run: more at once is 429 with Retry-After, not a 500."""
    order_id = uuid.uuid4()
    handle = await dev_env.client.start_workflow(
        OrderWorkflow.run,
        order_input(order_id, (uuid.UUID(ARM_BLK), 1)),
        id=workflow_id(order_id),
        task_queue=f"nobody-{uuid.uuid4()}",  # no worker: every update stays in flight
    )
    calls = [asyncio.create_task(stack_api.post(f"/api/orders/{order_id}/cancel")) for _ in range(12)]
    try:
        busy = None
        while busy is None:
            done, _ = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
            busy = next((c.result() for c in done if c.result().status_code == 429), None)
            calls = [c for c in calls if c not in done]
            assert calls or busy is not None, "no call was refused as too many"
    finally:
        for call in calls:
            call.cancel()
        await handle.terminate("test over")
    assert busy.json()["error"] == "too_many_requests" and int(busy.headers["retry-after"]) >= 1


async def test_a_long_customer_email_still_places_the_order(stack_api: httpx.AsyncClient) -> None:
    """The run's summary stays within Temporal's 400-byte limit whatever the customer's name and email."""
    email = "é" * 300 + "@example.com"  # 320 characters, 612 bytes
    order = await place(stack_api, (NOTE_A5, 1), email=email)
    assert order["customerEmail"] == email
