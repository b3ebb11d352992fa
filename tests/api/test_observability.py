"""What operators see: Prometheus metrics of the API and of the worker, and logs that carry the order id."""

import json
import logging
import socket
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from stack import temporal
from stack.observability import JsonFormatter, TextFormatter, worker_runtime
from stack.settings import Settings
from tests.conftest import open_api
from tests.demo import ARM_BLK
from tests.http import place
from tooling.processes import free_port
from worker import create_worker


async def test_api_metrics_count_requests_by_route_template(api: httpx.AsyncClient) -> None:
    await api.get(f"/api/carts/{uuid.uuid4()}")
    await api.get(f"/api/carts/{uuid.uuid4()}")

    body = (await api.get("/metrics")).text

    assert 'orderflow_http_requests_total{method="GET",route="/api/carts/{cart_id}",status="404"} 2.0' in body
    assert "orderflow_http_request_duration_seconds_bucket" in body


async def test_worker_exports_sdk_and_order_metrics(
    order_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    settings = order_settings.model_copy(update={"worker_metrics_port": free_port()})
    runtime = worker_runtime(settings)
    client = await temporal.connect(settings, runtime=runtime)
    async with create_worker(client, settings, sessionmaker):
        async for api in open_api(settings):
            order = await place(api, (ARM_BLK, 1))
            await api.post(f"/api/orders/{order['id']}/cancel")
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"http://127.0.0.1:{settings.worker_metrics_port}/metrics")).text

    assert 'orderflow_order_events{event="placed"' in body
    assert 'orderflow_order_events{event="cancelled"' in body
    assert 'step="release stock"' in body  # compensations are counted by step
    assert "temporal_workflow_completed" in body  # the SDK's own runtime metrics


def _record_from_an_activity() -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "temporalio.activity", "levelno": logging.INFO, "msg": "allocating"})
    record.temporal_activity = {"workflow_id": "order-1234", "activity_type": "inventory.allocate"}
    return record


def test_json_logs_carry_the_order_and_workflow_ids() -> None:
    line = json.loads(JsonFormatter().format(_record_from_an_activity()))
    assert line["order_id"] == "1234"
    assert line["workflow_id"] == "order-1234"
    assert line["activity"] == "inventory.allocate"
    assert line["message"] == "allocating"


def test_text_logs_carry_the_order_id_for_people() -> None:
    assert "order_id=1234" in TextFormatter().format(_record_from_an_activity())


def test_a_taken_metrics_port_leaves_the_worker_running_without_metrics(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = settings.model_copy(update={"worker_metrics_port": taken.getsockname()[1]})
        assert worker_runtime(busy) is None
    assert worker_runtime(settings.model_copy(update={"worker_metrics_port": 0})) is None
