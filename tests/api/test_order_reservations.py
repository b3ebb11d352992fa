"""An order's reservations are settled through the order, not through the stock endpoints (issue 11, item 5).

Releasing an open order's stock directly would let it be sold twice while the order still counts on it;
committing it would take it off the shelf for an order that is not shipped. Once the order has settled them
(cancelled: Released; shipped: Committed), the seed's idempotent repeats still answer 200.
"""

import uuid

import httpx

from contracts.order import is_order_stock_key, order_stock_key
from tests.demo import ARM_BLK
from tests.http import ok, pay, place, refused, stock


async def test_the_stock_endpoints_refuse_an_active_reservation_an_order_holds(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    before = await stock(api, "ARM-BLK")
    order = await place(api, (ARM_BLK, 2))
    await pay(api, order)
    reservation = order["items"][0]["inventoryReservationId"]

    for action in ("release", "commit"):
        refused(await api.post(f"/api/stock/reservations/{reservation}/{action}"), 400, "reservation_owned_by_order")
    assert await stock(api, "ARM-BLK") == (before[0], before[1] + 2)

    ok(await api.post(f"/api/orders/{order['id']}/cancel"))
    released = ok(await api.post(f"/api/stock/reservations/{reservation}/release"))  # the seed's repeat
    assert released["status"] == "Released"
    assert await stock(api, "ARM-BLK") == before


async def test_a_reservation_of_its_own_is_still_released_through_the_stock_endpoint(
    stack_api: httpx.AsyncClient,
) -> None:
    created = await stack_api.post(
        "/api/stock/reservations/allocate",
        json={"sku": "ARM-BLK", "quantity": 1, "reference": "MANUAL-1"},
        headers={"Idempotency-Key": f"manual-{uuid.uuid4()}"},
    )
    assert created.status_code == 201, created.text
    released = ok(await stack_api.post(f"/api/stock/reservations/{created.json()['id']}/release"))
    assert released["status"] == "Released"


def test_only_the_keys_of_an_order_workflow_are_an_orders() -> None:
    order_id = uuid.uuid4()
    assert is_order_stock_key(order_stock_key(order_id, 0)) and is_order_stock_key(order_stock_key(order_id, 12))
    assert not is_order_stock_key(None)
    assert not is_order_stock_key(f"manual-{order_id}")
    assert not is_order_stock_key(f"order-{order_id}")
    assert not is_order_stock_key(f"order-{order_id}-1-x")
