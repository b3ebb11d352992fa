"""Routes of the inventory resource (contract section 3.1): warehouses, locations, stock, reservations.

`/api/stock/movements` is declared before `/api/stock/{sku}` so the literal segment wins.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from api.auth import OPERATOR
from api.deps import Page, Session
from api.errors import responses
from api.paging import paged_responses
from contracts.order import is_order_stock_key
from services.errors import DomainError
from services.inventory.errors import ReservationOwnedByOrderError, StockNotFoundError
from services.inventory.models import IDEMPOTENCY_KEY_MAX
from services.inventory.schemas import (
    AllocateStockReservationRequest,
    CreateStockReservationRequest,
    CreateStorageLocationRequest,
    CreateWarehouseRequest,
    ReceiveStockRequest,
    StockMovementDto,
    StockReceiptDto,
    StockReservationDto,
    StockSummaryDto,
    StorageLocationDto,
    WarehouseDto,
)
from services.inventory.store import InventoryStore

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down. Operators only.
router = APIRouter(tags=["inventory"], responses=responses(503), dependencies=[OPERATOR])

# Keys sent over REST live in a namespace of their own, so no client can claim one of the keys an order's workflow
# reserves its lines under (`order-<id>-<n>`) and make that order adopt the client's reservation.
REST_KEY_PREFIX = "rest:"
REST_KEY_MAX = IDEMPOTENCY_KEY_MAX - len(REST_KEY_PREFIX)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _rest_key(key: str | None) -> str | None:
    if key is None or not key.strip():
        return None
    if len(key.strip()) > REST_KEY_MAX:
        raise DomainError("idempotency_key_too_long", f"Idempotency key must be at most {REST_KEY_MAX} characters.")
    return REST_KEY_PREFIX + key.strip()


@router.get("/api/warehouses", responses=paged_responses())
async def list_warehouses(session: Session, page: Page) -> list[WarehouseDto]:
    return page.answer(await InventoryStore(session).list_warehouses(page.request))


@router.post("/api/warehouses", responses=responses(400, 415), status_code=201)
async def create_warehouse(body: CreateWarehouseRequest, session: Session, response: Response) -> WarehouseDto:
    warehouse = await InventoryStore(session).create_warehouse(body.code, body.name)
    response.headers["Location"] = f"/api/warehouses/{warehouse.id}"
    return warehouse


@router.get("/api/locations", responses=paged_responses())
async def list_locations(
    session: Session, page: Page, warehouse_id: Annotated[UUID | None, Query(alias="warehouseId")] = None
) -> list[StorageLocationDto]:
    return page.answer(await InventoryStore(session).list_locations(warehouse_id, page.request))


@router.post("/api/locations", responses=responses(400, 415), status_code=201)
async def create_location(
    body: CreateStorageLocationRequest, session: Session, response: Response
) -> StorageLocationDto:
    location = await InventoryStore(session).create_location(body.warehouse_id, body.code)
    response.headers["Location"] = f"/api/locations/{location.id}"
    return location


@router.post("/api/stock/receipts", responses=responses(400, 415))
async def receive_stock(body: ReceiveStockRequest, session: Session) -> StockReceiptDto:
    return await InventoryStore(session).receive(
        body.sku, body.warehouse_id, body.location_id, body.quantity, body.reason
    )


@router.get("/api/stock/movements", responses=paged_responses())
async def list_movements(session: Session, page: Page, sku: str | None = None) -> list[StockMovementDto]:
    return page.answer(await InventoryStore(session).list_movements(sku, page.request))


@router.get("/api/stock/{sku}", responses=responses(404))
async def get_stock(sku: str, session: Session) -> StockSummaryDto:
    summary = await InventoryStore(session).get_stock(sku)
    if summary is None:
        raise StockNotFoundError(sku.strip().upper())
    return summary


@router.post("/api/stock/reservations", responses=responses(400, 415, 422), status_code=201)
async def reserve_stock(
    body: CreateStockReservationRequest,
    session: Session,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StockReservationDto:
    reservation = await InventoryStore(session).reserve(
        body.sku, body.warehouse_id, body.location_id, body.quantity, body.reference, _rest_key(idempotency_key)
    )
    response.headers["Location"] = f"/api/stock/reservations/{reservation.id}"
    return reservation


@router.post("/api/stock/reservations/allocate", responses=responses(400, 415, 422), status_code=201)
async def allocate_stock(
    body: AllocateStockReservationRequest,
    session: Session,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StockReservationDto:
    reservation = await InventoryStore(session).allocate(
        body.sku, body.quantity, body.reference, _rest_key(idempotency_key)
    )
    response.headers["Location"] = f"/api/stock/reservations/{reservation.id}"
    return reservation


async def _not_held_by_an_order(store: InventoryStore, reservation_id: UUID) -> None:
    """An order's active reservation is settled by acting on the order (cancel, expire, ship), never directly."""
    if is_order_stock_key(await store.active_reservation_key(reservation_id)):
        raise ReservationOwnedByOrderError(reservation_id)


@router.post("/api/stock/reservations/{reservation_id}/release", responses=responses(400, 404))
async def release_reservation(reservation_id: UUID, session: Session) -> StockReservationDto:
    store = InventoryStore(session)
    await _not_held_by_an_order(store, reservation_id)
    return await store.release(reservation_id)


@router.post("/api/stock/reservations/{reservation_id}/commit", responses=responses(400, 404))
async def commit_reservation(reservation_id: UUID, session: Session) -> StockReservationDto:
    store = InventoryStore(session)
    await _not_held_by_an_order(store, reservation_id)
    return await store.commit(reservation_id)
