"""Routes of the shipments resource (contract section 7). Not-found is 404 here, even for the order.

Changes are use cases of `usecases.shipments`; shipping goes through the order's workflow, which commits the
stock and marks the order Shipped.
"""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.auth import OPERATOR
from api.deps import Orders, Page, ReadSession, SessionMaker
from api.errors import responses
from api.idempotency import Idempotency
from api.paging import paged_responses
from services.fulfillment.errors import ShipmentNotFoundError
from services.fulfillment.schemas import (
    CreateShipmentRequest,
    ShipmentDetailsDto,
    ShipmentListItemDto,
    ShipShipmentRequest,
)
from services.fulfillment.store import FulfillmentStore
from usecases import shipments

# Every route reads or writes PostgreSQL, so any of them may answer 503 while it is down. Operators only.
router = APIRouter(tags=["shipments"], responses=responses(503), dependencies=[OPERATOR])


@router.get("/api/shipments", responses=paged_responses())
async def list_shipments(session: ReadSession, page: Page) -> list[ShipmentListItemDto]:
    """The shipments, newest first, a page at a time."""
    return page.answer(await FulfillmentStore(session).list(page.request))


@router.get("/api/shipments/{shipment_id}", responses=responses(404))
async def get_shipment(shipment_id: UUID, session: ReadSession) -> ShipmentDetailsDto:
    shipment = await FulfillmentStore(session).get(shipment_id)
    if shipment is None:
        raise ShipmentNotFoundError(shipment_id)
    return shipment


@router.post("/api/shipments", responses=responses(400, 404, 415, 422), status_code=status.HTTP_201_CREATED)
async def create_shipment(
    body: CreateShipmentRequest, sessionmaker: SessionMaker, response: Response, keyed: Idempotency
) -> ShipmentDetailsDto:
    """A Pending shipment for a Paid order. With an `Idempotency-Key`, a retry answers with the same shipment."""
    shipment = await shipments.create_shipment(sessionmaker, body, keyed)
    response.headers["Location"] = f"/api/shipments/{shipment.id}"
    return shipment


@router.post("/api/shipments/{shipment_id}/ship", responses=responses(400, 404, 409, 415, 422, 429))
async def ship_shipment(
    shipment_id: UUID, orders: Orders, keyed: Idempotency, body: ShipShipmentRequest | None = None
) -> ShipmentDetailsDto:
    """Pending -> Shipped, after the order's stock is committed and the order is Shipped.

    Strict, as the seed's: shipping it again is refused, except for a retry with the same `Idempotency-Key`,
    which gets the first attempt's outcome.
    """
    return await shipments.ship_shipment(orders, shipment_id, body, keyed)


@router.post("/api/shipments/{shipment_id}/cancel", responses=responses(400, 404))
async def cancel_shipment(shipment_id: UUID, sessionmaker: SessionMaker) -> ShipmentDetailsDto:
    """Pending -> Cancelled. The order is untouched: it stays Paid and can get a new shipment."""
    return await shipments.cancel_shipment(sessionmaker, shipment_id)
