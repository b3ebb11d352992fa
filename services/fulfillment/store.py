"""The fulfillment context's store: shipments and their status machine (contract section 7.4).

Pending -> Shipped | Cancelled; both are terminal. Whether the order may ship (it must be Paid) is asked of
the order workflow by the caller, never here. Which settle applies is `decide_settle`'s answer; every transition
is a conditional UPDATE on `status`, so one that races another either wins or sees the other's result.
"""

import builtins
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import DateTime, Row, String, Update, Uuid, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import Verdict
from services.errors import OrderIdRequiredError
from services.fulfillment.errors import (
    ShipmentCannotBeCancelledError,
    ShipmentCannotBeShippedError,
    ShipmentNotFoundError,
)
from services.fulfillment.models import Shipment
from services.fulfillment.schemas import (
    CreateShipmentRequest,
    ShipmentDetailsDto,
    ShipmentListItemDto,
    ShipmentStatus,
)
from services.paging import FIRST_PAGE, Keyset, PageRequest, PageResult, desc
from services.schemas import ZERO_UUID, utcnow
from services.sql import core_table
from services.validation import BY_FIELD_NAME, optional_text

CARRIER_MAX = 100
TRACKING_NUMBER_MAX = 200


def normalize_shipping(carrier: str | None, tracking_number: str | None) -> tuple[str | None, str | None]:
    """Carrier and tracking number as stored (trimmed, blank -> None); refuses over-long ones before any change."""
    return (
        optional_text(carrier, "carrier", max_length=CARRIER_MAX, wording=BY_FIELD_NAME),
        optional_text(tracking_number, "tracking_number", max_length=TRACKING_NUMBER_MAX, wording=BY_FIELD_NAME),
    )


def decide_settle(shipment_id: UUID, status: ShipmentStatus, target: ShipmentStatus, *, repeat_ok: bool) -> Verdict:
    """What settling a shipment in `status` as `target` (Shipped or Cancelled) does.

    A Pending shipment moves (APPLY). One that is `target` already is left as it is (NOOP) when `repeat_ok` (an
    activity retried after it committed); every other status is refused, as `shipment_cannot_be_shipped` or
    `shipment_cannot_be_cancelled` by the target.
    """
    if status == ShipmentStatus.PENDING:
        return Verdict.APPLY
    if repeat_ok and status == target:
        return Verdict.NOOP
    if target == ShipmentStatus.CANCELLED:
        raise ShipmentCannotBeCancelledError(shipment_id, status)
    raise ShipmentCannotBeShippedError(shipment_id, status)


def _details(shipment: Shipment | Row[Any]) -> ShipmentDetailsDto:
    return ShipmentDetailsDto.model_validate(shipment)


_SHIPMENTS = core_table(Shipment)
_NOW = bindparam("now", type_=DateTime(timezone=True))
_SHIPMENT_ID = bindparam("shipment_id", type_=Uuid())
# The API's reads and inserts of one shipment, built once on the table (plain rows, no per-call ORM work).
_BY_ID = select(_SHIPMENTS).where(_SHIPMENTS.c.id == _SHIPMENT_ID)
_INSERT = insert(_SHIPMENTS)


def _settle_statement(target: ShipmentStatus, stamp: str, **values: object) -> Update:
    """Pending -> `target` in one statement (the APPLY case of `decide_settle`), built once on the table."""
    return (
        update(_SHIPMENTS)
        .where(_SHIPMENTS.c.id == _SHIPMENT_ID, _SHIPMENTS.c.status == ShipmentStatus.PENDING.value)
        .values(status=target.value, updated_at=_NOW, **{stamp: _NOW}, **values)
        .returning(*_SHIPMENTS.c)
    )


_SETTLE = {
    # a blank carrier or tracking number (NULL) keeps the stored one
    ShipmentStatus.SHIPPED: _settle_statement(
        ShipmentStatus.SHIPPED,
        "shipped_at",
        carrier=func.coalesce(bindparam("new_carrier", type_=String()), _SHIPMENTS.c.carrier),
        tracking_number=func.coalesce(bindparam("new_tracking_number", type_=String()), _SHIPMENTS.c.tracking_number),
    ),
    ShipmentStatus.CANCELLED: _settle_statement(ShipmentStatus.CANCELLED, "cancelled_at"),
}

SHIPMENTS = Keyset("shipments", desc(Shipment.created_at), desc(Shipment.id))


class FulfillmentStore:
    """Reads and changes shipments inside the caller's unit of work; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(self, request: CreateShipmentRequest, *, shipment_id: UUID | None = None) -> ShipmentDetailsDto:
        """Record a Pending shipment (under `shipment_id`, an Idempotency-Key's; else a fresh id).

        The caller has already checked that the order is Paid.
        """
        if request.order_id == ZERO_UUID:
            raise OrderIdRequiredError()
        carrier, tracking_number = normalize_shipping(request.carrier, request.tracking_number)
        now = utcnow()
        values = {
            "id": shipment_id or uuid4(),
            "order_id": request.order_id,
            "status": ShipmentStatus.PENDING.value,
            "carrier": carrier,
            "tracking_number": tracking_number,
            "created_at": now,
            "updated_at": now,
            "shipped_at": None,
            "cancelled_at": None,
        }
        await self._session.execute(_INSERT, values)
        return ShipmentDetailsDto.model_validate(values)

    async def get(self, shipment_id: UUID) -> ShipmentDetailsDto | None:
        """The shipment, or None if there is no such shipment."""
        row = (await self._session.execute(_BY_ID, {"shipment_id": shipment_id})).one_or_none()
        return None if row is None else _details(row)

    async def list_for_order(self, order_id: UUID) -> builtins.list[ShipmentDetailsDto]:
        """Every shipment of the order, oldest first."""
        shipments = await self._session.scalars(
            select(Shipment)
            .where(Shipment.order_id == order_id)
            .order_by(Shipment.created_at, Shipment.id)
            .execution_options(populate_existing=True)
        )
        return [_details(s) for s in shipments]

    async def require_pending(self, shipment_id: UUID) -> ShipmentDetailsDto:
        """The shipment if it is Pending, else `shipment_not_found` (404) / `shipment_cannot_be_shipped`.

        A plain read, no lock: the caller checks before it asks the order workflow, whose activity then
        makes the locked transition (a lock held here would block that activity).
        """
        shipment = await self.get(shipment_id)
        if shipment is None:
            raise ShipmentNotFoundError(shipment_id)
        if shipment.status != ShipmentStatus.PENDING:
            raise ShipmentCannotBeShippedError(shipment_id, shipment.status)
        return shipment

    async def mark_shipped(
        self,
        shipment_id: UUID,
        carrier: str | None,
        tracking_number: str | None,
        *,
        repeat_ok: bool = False,
    ) -> ShipmentDetailsDto:
        """Pending -> Shipped, setting `shippedAt`; non-blank carrier/tracking number overwrite, blank keep.

        An already Shipped shipment is returned unchanged when `repeat_ok` (an activity retried after it
        committed), else refused as `shipment_cannot_be_shipped`, as is a Cancelled one.
        """
        new_carrier, new_tracking_number = normalize_shipping(carrier, tracking_number)
        values = {"new_carrier": new_carrier, "new_tracking_number": new_tracking_number}
        return await self._settle(shipment_id, ShipmentStatus.SHIPPED, values, repeat_ok)

    async def cancel(self, shipment_id: UUID) -> ShipmentDetailsDto:
        """Pending -> Cancelled, setting `cancelledAt`. Strict: a Shipped or Cancelled shipment is refused
        as `shipment_cannot_be_cancelled`. The order is untouched."""
        return await self._settle(shipment_id, ShipmentStatus.CANCELLED, {}, repeat_ok=False)

    async def cancel_pending_for_order(self, order_id: UUID) -> builtins.list[ShipmentDetailsDto]:
        """Every Pending shipment of the order -> Cancelled; returns those it changed (none on a repeat)."""
        now: datetime = utcnow()
        changed = await self._session.scalars(
            update(Shipment)
            .where(Shipment.order_id == order_id, Shipment.status == ShipmentStatus.PENDING.value)
            .values(status=ShipmentStatus.CANCELLED.value, cancelled_at=now, updated_at=now)
            .returning(Shipment)
            .execution_options(populate_existing=True, synchronize_session=False)  # as PaymentStore._transition_all
        )
        return [_details(s) for s in sorted(changed.all(), key=lambda s: (s.created_at, s.id))]

    async def list(self, page: PageRequest = FIRST_PAGE) -> PageResult[ShipmentListItemDto]:
        """A page of the shipments, newest first."""
        shipments = await self._session.scalars(
            SHIPMENTS.apply(select(Shipment), page).execution_options(populate_existing=True)
        )
        return SHIPMENTS.page([ShipmentListItemDto.model_validate(s) for s in shipments], page)

    async def _settle(
        self, shipment_id: UUID, target: ShipmentStatus, values: dict[str, str | None], repeat_ok: bool
    ) -> ShipmentDetailsDto:
        """Settle one shipment as `decide_settle` says, in at most two statements and no lock of our own.

        The usual case (Pending) is the conditional UPDATE alone, atomic by itself, so the caller may run this in
        autocommit. When it changed nothing the shipment was not Pending, and no shipment ever returns to
        Pending: the decision on the row as read then is final.
        """
        params = {"shipment_id": shipment_id, "now": utcnow(), **values}
        row = (await self._session.execute(_SETTLE[target], params)).one_or_none()
        if row is not None:
            return _details(row)
        shipment = await self.get(shipment_id)
        if shipment is None:
            raise ShipmentNotFoundError(shipment_id)
        verdict = decide_settle(shipment_id, shipment.status, target, repeat_ok=repeat_ok)
        assert verdict is Verdict.NOOP, "a shipment never returns to Pending"
        return shipment
