"""Reservation idempotency keys over REST (issue 11, item 2): a key is adopted only for the same SKU and quantity,
and REST keys live apart from the keys an order's workflow reserves under (`order-<id>-<n>`).
"""

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.models import StockReservation
from tests.api.test_inventory_api import make_place, movement_count, receive
from tests.http import ok, refused, stock


async def test_a_reservation_key_is_adopted_only_for_the_same_request(api: httpx.AsyncClient) -> None:
    where = await make_place(api, "MAIN", "A-01")
    await receive(api, "SKU", where, 5)
    headers = {"Idempotency-Key": "cart-42:line-1"}
    first = ok(
        await api.post("/api/stock/reservations/allocate", json={"sku": "SKU", "quantity": 2}, headers=headers), 201
    )
    before = (await stock(api, "SKU"), await movement_count(api))

    more = await api.post("/api/stock/reservations/allocate", json={"sku": "SKU", "quantity": 3}, headers=headers)
    refused(more, 422, "idempotency_key_reused")
    assert first["id"] not in more.text
    await receive(api, "OTHER", where, 5)
    other_sku = await api.post(
        "/api/stock/reservations/allocate", json={"sku": "OTHER", "quantity": 2}, headers=headers
    )
    refused(other_sku, 422, "idempotency_key_reused")

    assert (await stock(api, "SKU"), await movement_count(api) - 1) == before  # only OTHER's receipt moved


async def test_rest_keys_cannot_claim_an_orders_reservation_keys(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    where = await make_place(api, "MAIN", "A-01")
    await receive(api, "SKU", where, 5)
    workflow_key = "order-9572fb9d-f059-401e-9041-7fc75f8cb414-0"  # the shape of an order's own line key
    reservation = ok(
        await api.post(
            "/api/stock/reservations/allocate",
            json={"sku": "SKU", "quantity": 1},
            headers={"Idempotency-Key": workflow_key},
        ),
        201,
    )

    async with sessionmaker() as session:
        stored = await session.scalar(
            select(StockReservation.idempotency_key).where(StockReservation.id == reservation["id"])
        )
    assert stored != workflow_key and stored is not None and stored.endswith(workflow_key)
