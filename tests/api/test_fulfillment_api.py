"""Shipment endpoints over HTTP (contract section 7): input the fuzzer (tests/api/test_fuzz.py) found unstorable.

PostgreSQL refuses NUL in text: creating a shipment with one answered 500, and shipping with one left the order's
workflow retrying the shipping step forever while the request failed.
"""

import httpx

from tests.demo import ARM_BLK
from tests.http import ok, place, refused


async def test_ship_refuses_a_nul_before_asking_the_order(api: httpx.AsyncClient) -> None:
    # `api` has no Temporal: the refusal comes before the shipment or its order is looked at.
    for body, code in (
        ({"carrier": "DHL\x00"}, "carrier_invalid"),
        ({"trackingNumber": "\x00TRK"}, "tracking_number_invalid"),
    ):
        refused(await api.post("/api/shipments/00000000-0000-4000-8000-000000000001/ship", json=body), 400, code)


async def test_create_refuses_a_nul_and_the_order_can_still_ship(stack_api: httpx.AsyncClient) -> None:
    order = await place(stack_api, (ARM_BLK, 1))
    assert (await stack_api.post(f"/api/orders/{order['id']}/mark-paid")).status_code == 200

    with_nul = await stack_api.post("/api/shipments", json={"orderId": order["id"], "trackingNumber": "TRK\x00"})
    refused(with_nul, 400, "tracking_number_invalid")
    assert (await stack_api.get("/api/shipments")).json() == []

    created = ok(await stack_api.post("/api/shipments", json={"orderId": order["id"], "trackingNumber": "TRK-1"}), 201)
    ok(await stack_api.post(f"/api/shipments/{created['id']}/ship", json={}))
    assert (await stack_api.get(f"/api/orders/{order['id']}")).json()["status"] == "Shipped"
