"""Routes of the shipments resource (contract section 7). Not-found is 404 here, even for the order.

Shipping goes through the order's workflow, which commits the stock and marks the order Shipped.
"""

from uuid import UUID

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import OPERATOR
from api.deps import Orders, Page, ReadSession, Session, SessionMaker
from api.errors import responses
from api.idempotency import Idempotency, claim_action, claim_create, update_id_of
from api.paging import paged_responses
from contracts.order import MarkShipped, OrderStatus
from services.errors import DomainError, OrderIdRequiredError
from services.fulfillment.errors import (
    OrderNotFoundError,
    OrderNotReadyForShipmentError,
    ShipmentCannotBeShippedError,
    ShipmentNotFoundError,
)
from services.fulfillment.schemas import (
    CreateShipmentRequest,
    ShipmentDetailsDto,
    ShipmentListItemDto,
    ShipmentStatus,
    ShipShipmentRequest,
)
from services.fulfillment.store import FulfillmentStore, normalize_shipping
from services.ordering.store import OrderingStore
from services.schemas import ZERO_UUID
from workflows.order import OrderWorkflow

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
    body: CreateShipmentRequest, sessionmaker: SessionMaker, response: Response, keyed: Idempotency = None
) -> ShipmentDetailsDto:
    """A Pending shipment for a Paid order. With an `Idempotency-Key`, a retry answers with the same shipment."""
    if body.order_id == ZERO_UUID:
        raise OrderIdRequiredError()
    async with sessionmaker.begin() as session:  # committed before the response leaves
        shipment_id, existing = await claim_create(session, keyed, body, FulfillmentStore(session).get)
        if existing is not None:
            response.headers["Location"] = f"/api/shipments/{existing.id}"
            return existing
        # The recorded status is authoritative: the workflow records Paid before its update answers. Held until
        # the shipment commits: a cancel records Cancelled after it (and then drops it), or this sees Cancelled.
        order_status = await OrderingStore(session).status(body.order_id, hold=True)
        if order_status is None:
            raise OrderNotFoundError(body.order_id)
        if order_status is not OrderStatus.PAID:
            raise OrderNotReadyForShipmentError(body.order_id, order_status.value)
        shipment = await FulfillmentStore(session).create(body, shipment_id=shipment_id)
    response.headers["Location"] = f"/api/shipments/{shipment.id}"
    return shipment


@router.post("/api/shipments/{shipment_id}/ship", responses=responses(400, 404, 409, 415, 422, 429))
async def ship_shipment(
    shipment_id: UUID, orders: Orders, body: ShipShipmentRequest | None = None, keyed: Idempotency = None
) -> ShipmentDetailsDto:
    """Pending -> Shipped, after the order's stock is committed and the order is Shipped.

    Strict, as the seed's: shipping it again is refused, except for a retry with the same `Idempotency-Key`,
    which gets the first attempt's outcome.
    """
    carrier, tracking_number = normalize_shipping(
        body.carrier if body else None, body.tracking_number if body else None
    )
    key = await claim_action(orders, keyed, body)
    shipment = await orders.read(lambda session: FulfillmentStore(session).get(shipment_id))
    if shipment is None:
        raise ShipmentNotFoundError(shipment_id)
    if shipment.status is not ShipmentStatus.PENDING:
        if key is not None and key.retry and shipment.status is ShipmentStatus.SHIPPED:
            if await orders.outcome_of(shipment.order_id, OrderWorkflow.mark_shipped, key.update_id) is not None:
                return shipment  # this key's first attempt shipped it
        raise ShipmentCannotBeShippedError(shipment_id, shipment.status)

    async def shipped(session: AsyncSession) -> ShipmentDetailsDto | None:
        stored = await FulfillmentStore(session).get(shipment_id)
        return stored if stored is not None and stored.status is ShipmentStatus.SHIPPED else None

    try:
        return await orders.act_then_settle(
            shipment.order_id,
            OrderWorkflow.mark_shipped,
            MarkShipped(shipment_id=shipment_id, carrier=carrier, tracking_number=tracking_number),
            settled=shipped,
            settle=lambda session: FulfillmentStore(session).mark_shipped(
                shipment_id, carrier, tracking_number, repeat_ok=True
            ),
            update_id=update_id_of(key),
        )
    except DomainError as error:
        if error.code == "order_not_found":
            raise OrderNotFoundError(shipment.order_id) from error
        raise


@router.post("/api/shipments/{shipment_id}/cancel", responses=responses(400, 404))
async def cancel_shipment(shipment_id: UUID, session: Session) -> ShipmentDetailsDto:
    """Pending -> Cancelled. The order is untouched: it stays Paid and can get a new shipment."""
    return await FulfillmentStore(session).cancel(shipment_id)
