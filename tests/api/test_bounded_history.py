"""Calls that change nothing leave an order's workflow history as it was (issue 11, item 4).

Temporal ends a run at 51,200 events and caps it at 2,000 updates: if every repeat were written, a script could
kill any open order, leaving its stock reserved. On a dev server: the time-skipping server does not skip time
for updates, and this is about what the real server records.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.demo import ARM_BLK
from tests.http import Json, ok, pay, place

NO_OP_CALLS = 1_008  # a multiple of 2 * AT_ONCE
AT_ONCE = 8  # under Temporal's limit of 10 updates in flight per run
SLACK = 4  # events: a speculative workflow task the server may keep; not one per call


async def history_length(env: WorkflowEnvironment, order: Json) -> int:
    return len((await env.client.get_workflow_handle(f"order-{order['id']}").fetch_history()).events)


async def repeat(times: int, call: Callable[[], Awaitable[None]]) -> None:
    for _ in range(times // AT_ONCE):
        await asyncio.gather(*(call() for _ in range(AT_ONCE)))


async def test_a_thousand_no_op_calls_leave_the_history_as_it_was(
    stack_api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    api = stack_api
    key = {"Idempotency-Key": str(uuid.uuid4())}
    order = await place(api, (ARM_BLK, 1), headers=key)
    await pay(api, order)
    before = await history_length(dev_env, order)

    async def mark_paid() -> None:
        again = ok(await api.post(f"/api/orders/{order['id']}/mark-paid"))
        assert again["id"] == order["id"] and again["status"] == "Paid"

    async def place_again() -> None:
        again = await place(api, (ARM_BLK, 1), headers=key)
        assert again["id"] == order["id"] and again["status"] == "Paid"

    await repeat(NO_OP_CALLS // 2, mark_paid)
    await repeat(NO_OP_CALLS // 2, place_again)

    assert await history_length(dev_env, order) - before <= SLACK
    # the order still works: the no-ops did not use up the run
    cancelled = ok(await api.post(f"/api/orders/{order['id']}/cancel"))
    assert cancelled["status"] == "Cancelled"
