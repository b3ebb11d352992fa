"""Shipment endpoints over HTTP (contract section 7): input the fuzzer (tests/api/test_fuzz.py) found unstorable.

PostgreSQL refuses NUL in text: creating a shipment with one answered 500, and shipping with one left the order's
workflow retrying the shipping step forever while the request failed.
"""

import httpx

ARM_BLK = "9572fb9d-f059-401e-9041-7fc75f8cb414"  # demo variant, SKU ARM-BLK, in stock


async def test_ship_refuses_a_nul_before_asking_the_order(api: httpx.AsyncClient) -> None:
    # `api` has no Temporal: the refusal comes before the shipment or its order is looked at.
    for body, code in (
        ({"carrier": "DHL\x00"}, "carrier_invalid"),
        ({"trackingNumber": "\x00TRK"}, "tracking_number_invalid"),
    ):
        response = await api.post("/api/shipments/00000000-0000-4000-8000-000000000001/ship", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == code


async def test_create_refuses_a_nul_and_the_order_can_still_ship(stack_api: httpx.AsyncClient) -> None:
    customer = {"customerName": "Ada Lovelace", "customerEmail": "ada@example.com"}
    placed = await stack_api.post(
        "/api/orders", json={**customer, "items": [{"productVariantId": ARM_BLK, "quantity": 1}]}
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (await stack_api.post(f"/api/orders/{order['id']}/mark-paid")).status_code == 200

    refused = await stack_api.post("/api/shipments", json={"orderId": order["id"], "trackingNumber": "TRK\x00"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "tracking_number_invalid"
    assert (await stack_api.get("/api/shipments")).json() == []

    created = await stack_api.post("/api/shipments", json={"orderId": order["id"], "trackingNumber": "TRK-1"})
    assert created.status_code == 201, created.text
    shipped = await stack_api.post(f"/api/shipments/{created.json()['id']}/ship", json={})
    assert shipped.status_code == 200, shipped.text
    assert (await stack_api.get(f"/api/orders/{order['id']}")).json()["status"] == "Shipped"
