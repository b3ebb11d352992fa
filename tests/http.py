"""What the HTTP tests say again and again, said once: read an answer, expect a refusal, place and pay an order.

Every function takes the client it talks to, so the same helpers serve the in-process API (`api`,
`stack_api`) and the process stack of `tests/e2e` (`http`).
"""

from typing import Any

import httpx

Json = dict[str, Any]


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def created(response: httpx.Response, collection: str) -> Json:
    """The body of a 201 whose Location is the new resource under `collection` (e.g. "/api/orders")."""
    body: Json = ok(response, 201)
    assert response.headers["location"] == f"{collection}/{body['id']}"
    return body


def error_code(response: httpx.Response) -> str:
    """The `error` of a refusal, which must come with a message (the one error body shape)."""
    body = response.json()
    assert isinstance(body["message"], str) and body["message"], response.text
    code: str = body["error"]
    return code


def refused(response: httpx.Response, status: int, code: str) -> None:
    """The response is a refusal with `status` and the error `code`."""
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text


async def stock(client: httpx.AsyncClient, sku: str) -> tuple[int, int]:
    """The SKU's (on-hand, reserved) totals over all locations."""
    body = ok(await client.get(f"/api/stock/{sku}"))
    return body["totalOnHandQuantity"], body["totalReservedQuantity"]


async def place(
    client: httpx.AsyncClient,
    *lines: tuple[str, int],
    email: str = "ada@example.com",
    headers: dict[str, str] | None = None,
) -> Json:
    """Place an order of `lines` (variant id, quantity) through `POST /api/orders`; it must be created."""
    response = await client.post(
        "/api/orders",
        json={
            "customerName": "Ada Lovelace",
            "customerEmail": email,
            "items": [{"productVariantId": variant, "quantity": quantity} for variant, quantity in lines],
        },
        headers=headers or {},
    )
    return created(response, "/api/orders")


async def order_status(client: httpx.AsyncClient, order: Json) -> str:
    status: str = ok(await client.get(f"/api/orders/{order['id']}"))["status"]
    return status


async def create_payment(client: httpx.AsyncClient, order: Json, **fields: object) -> Json:
    """A Pending payment of the order's total, unless `fields` say otherwise (e.g. `currency="usd"`)."""
    body = {
        "orderId": order["id"],
        "amountMinor": order["totalAmountMinor"],
        "currency": order["currency"],
        "provider": "Manual",
        **fields,
    }
    payment: Json = ok(await client.post("/api/payments", json=body), 201)
    assert payment["status"] == "Pending"
    return payment


async def pay(client: httpx.AsyncClient, order: Json) -> Json:
    """Pay the order's total: a payment is created and succeeds (provider reference R1)."""
    payment = await create_payment(client, order)
    succeeded: Json = ok(await client.post(f"/api/payments/{payment['id']}/succeed", json={"providerReference": "R1"}))
    return succeeded
