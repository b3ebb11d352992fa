"""The bench's expiry storm places orders exactly as `POST /api/orders` does (README, "Expiry storm"): the same
workflow input, search attributes and run summary, only with a payment timeout of its own."""

from typing import Any
from uuid import UUID

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from bench.drivers import CUSTOMER_NAME, STORM_EMAIL_ADDRESS, Direct
from contracts.order import PlaceOrder
from stack.settings import Settings
from tests.demo import ARM_BLK
from tests.http import created
from workflows.order import workflow_id


async def _started_with(client: Client, handle: WorkflowHandle[Any, Any]) -> PlaceOrder:
    """The input the run was started with, decoded as the worker decodes it."""
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [order] = await client.data_converter.decode(started.input.payloads, [PlaceOrder])
    assert isinstance(order, PlaceOrder)
    return order


async def test_the_storm_places_an_order_as_the_api_does(
    stack_api: httpx.AsyncClient, order_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    client = dev_env.client
    through_api = created(
        await stack_api.post(
            "/api/orders",
            json={
                "customerName": CUSTOMER_NAME,
                "customerEmail": STORM_EMAIL_ADDRESS,
                "items": [{"productVariantId": ARM_BLK, "quantity": 1}],
            },
        ),
        "/api/orders",
    )
    timeout = order_settings.payment_timeout_seconds + 60
    storm = await Direct(client, order_settings, [UUID(ARM_BLK)], STORM_EMAIL_ADDRESS).place(0, timeout)

    api_run = client.get_workflow_handle(workflow_id(UUID(through_api["id"])))
    storm_run = client.get_workflow_handle(storm.workflow_id)
    assert storm.workflow_id == workflow_id(storm.order_id)
    api_described, storm_described = await api_run.describe(), await storm_run.describe()
    assert storm_described.task_queue == api_described.task_queue == order_settings.temporal_task_queue
    assert storm_described.typed_search_attributes == api_described.typed_search_attributes
    assert await storm_described.static_summary() == await api_described.static_summary()

    api_input, storm_input = await _started_with(client, api_run), await _started_with(client, storm_run)
    assert storm_input.payment_timeout_seconds == timeout
    assert (
        storm_input.model_copy(
            update={"order_id": api_input.order_id, "payment_timeout_seconds": api_input.payment_timeout_seconds}
        )
        == api_input
    )
