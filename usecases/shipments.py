"""A shipment's life: created Pending for a Paid order, then shipped (through the order's workflow) or cancelled."""

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import OrderUpdate, OrderWorkflows
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
    ShipmentStatus,
    ShipShipmentRequest,
)
from services.fulfillment.store import FulfillmentStore, normalize_shipping
from services.ordering.store import OrderingStore
from services.schemas import ZERO_UUID
from usecases.idempotency import KeyedRequest, create_once
from usecases.settling import Settlement, settle
from workflows.order import OrderWorkflow


async def create_shipment(
    sessionmaker: async_sessionmaker[AsyncSession], body: CreateShipmentRequest, keyed: KeyedRequest | None
) -> ShipmentDetailsDto:
    """A Pending shipment for a Paid order (with a key, the one its first request created)."""
    if body.order_id == ZERO_UUID:
        raise OrderIdRequiredError()
    async with sessionmaker.begin() as session:  # committed before the answer leaves
        shipments = FulfillmentStore(session)

        async def create(shipment_id: UUID | None) -> ShipmentDetailsDto:
            # The recorded status is authoritative: the workflow records Paid before its update answers. Held
            # until the shipment commits: a cancel records Cancelled after it (and then drops it), or this sees it.
            order_status = await OrderingStore(session).status(body.order_id, hold=True)
            if order_status is None:
                raise OrderNotFoundError(body.order_id)
            if order_status is not OrderStatus.PAID:
                raise OrderNotReadyForShipmentError(body.order_id, order_status.value)
            return await shipments.create(body, shipment_id=shipment_id)

        return await create_once(session, keyed, body, shipments.get, create)


@dataclass(frozen=True)
class _Shipping(Settlement[ShipmentDetailsDto, MarkShipped]):
    shipment_id: UUID
    carrier: str | None
    tracking_number: str | None

    @property
    def update(self) -> OrderUpdate[MarkShipped]:
        return OrderWorkflow.mark_shipped

    async def read(self, session: AsyncSession) -> ShipmentDetailsDto:
        shipment = await FulfillmentStore(session).get(self.shipment_id)
        if shipment is None:
            raise ShipmentNotFoundError(self.shipment_id)
        return shipment

    def order_id(self, row: ShipmentDetailsDto) -> UUID:
        return row.order_id

    def pending(self, row: ShipmentDetailsDto) -> bool:
        return row.status is ShipmentStatus.PENDING

    def settled(self, row: ShipmentDetailsDto) -> bool:
        return row.status is ShipmentStatus.SHIPPED

    def not_pending(self, row: ShipmentDetailsDto) -> DomainError:
        return ShipmentCannotBeShippedError(self.shipment_id, row.status)

    async def act(self, orders: OrderWorkflows, row: ShipmentDetailsDto, update_id: str | None) -> ShipmentDetailsDto:
        async def shipped(session: AsyncSession) -> ShipmentDetailsDto | None:
            stored = await FulfillmentStore(session).get(self.shipment_id)
            return stored if stored is not None and stored.status is ShipmentStatus.SHIPPED else None

        message = MarkShipped(shipment_id=self.shipment_id, carrier=self.carrier, tracking_number=self.tracking_number)
        try:
            return await orders.act_then_settle(
                row.order_id,
                self.update,
                message,
                settled=shipped,
                settle=lambda session: FulfillmentStore(session).mark_shipped(
                    self.shipment_id, self.carrier, self.tracking_number, repeat_ok=True
                ),
                update_id=update_id,
            )
        except DomainError as error:
            if error.code == "order_not_found":
                raise OrderNotFoundError(row.order_id) from error  # a 404 here, as the shipments resource says
            raise


async def ship_shipment(
    orders: OrderWorkflows, shipment_id: UUID, body: ShipShipmentRequest | None, keyed: KeyedRequest | None
) -> ShipmentDetailsDto:
    """Pending -> Shipped, once the order's stock is committed and the order is Shipped."""
    carrier, tracking_number = normalize_shipping(
        body.carrier if body else None, body.tracking_number if body else None
    )
    return await settle(orders, _Shipping(shipment_id, carrier, tracking_number), keyed, body)


async def ship_order(orders: OrderWorkflows, order_id: UUID, carrier: str, tracking_number: str) -> ShipmentDetailsDto:
    """A shipment for the order, shipped at once: the order becomes Shipped, its stock committed."""
    request = CreateShipmentRequest(order_id=order_id, carrier=carrier, tracking_number=tracking_number)
    shipment = await create_shipment(orders.sessionmaker, request, None)
    return await ship_shipment(
        orders, shipment.id, ShipShipmentRequest(carrier=carrier, tracking_number=tracking_number), None
    )


async def cancel_shipment(sessionmaker: async_sessionmaker[AsyncSession], shipment_id: UUID) -> ShipmentDetailsDto:
    """Pending -> Cancelled. The order is untouched: it stays Paid and can get a new shipment."""
    async with sessionmaker.begin() as session:
        return await FulfillmentStore(session).cancel(shipment_id)
