"""Warehouses, locations, stock balances, the movement ledger and reservations (contract section 3).

Concurrency: every change of a stock row happens under its row lock (`SELECT ... FOR UPDATE`). Locks are
always taken in one order, so two units of work never wait on each other in a cycle:
idempotency keys (advisory locks, sorted) -> reservations (by id) -> stock rows (by id).
Allocation locks every row of the SKU before choosing one, so two allocations can never both take the
last units. The database's CHECK constraints are the backstop, not the mechanism.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, Select, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import DomainError
from services.inventory.errors import (
    InsufficientStockError,
    InventoryError,
    ReservationNotActiveError,
    ReservationNotFoundError,
    StockItemNotFoundError,
)
from services.inventory.models import (
    CODE_MAX,
    IDEMPOTENCY_KEY_MAX,
    REASON_MAX,
    REFERENCE_MAX,
    SKU_MAX,
    WAREHOUSE_NAME_MAX,
    StockItem,
    StockMovement,
    StockReservation,
    StorageLocation,
    Warehouse,
)
from services.inventory.schemas import (
    AllocationLine,
    MovementType,
    ReservationStatus,
    StockLocationBalanceDto,
    StockMovementDto,
    StockReceiptDto,
    StockReservationDto,
    StockSummaryDto,
    StorageLocationDto,
    WarehouseDto,
)
from services.schemas import utcnow

INT64_MAX = 2**63 - 1
DEFAULT_MOVEMENTS_LIMIT = 100
MAX_MOVEMENTS_LIMIT = 500

# first half of the two-int advisory lock id of an idempotency key (the second half is the key's hash)
_KEY_LOCK_CLASS = 0x494E56


def normalize_sku(value: str | None) -> str | None:
    """The stored form of a SKU (trimmed, upper-cased), or None when it is blank."""
    cleaned = (value or "").strip().upper()
    return cleaned or None


def _clean(
    value: str | None, *, field: str, label: str, max_length: int, required: bool, upper: bool = False
) -> str | None:
    """Trim (and upper-case) a text input; refuse it blank when required, over-long or unstorable."""
    cleaned = (value or "").strip()
    if upper:
        cleaned = cleaned.upper()
    if not cleaned:
        if required:
            raise InventoryError(f"{field}_required", f"{label} is required")
        return None
    if len(cleaned) > max_length:
        raise InventoryError(f"{field}_too_long", f"{label} must be at most {max_length} characters")
    if "\x00" in cleaned:
        raise InventoryError(f"{field}_invalid", f"{label} must not contain NUL characters")
    return cleaned


def _required(value: str | None, *, field: str, label: str, max_length: int, upper: bool = False) -> str:
    cleaned = _clean(value, field=field, label=label, max_length=max_length, required=True, upper=upper)
    assert cleaned is not None
    return cleaned


def _sku(value: str | None) -> str:
    return _required(value, field="sku", label="SKU", max_length=SKU_MAX, upper=True)


def _quantity(value: int, code: str) -> int:
    if value <= 0 or value > INT64_MAX:
        raise InventoryError(code, f"Quantity must be between 1 and {INT64_MAX}")
    return value


def _lookup_sku(value: str | None) -> str | None:
    """A SKU for a read: None when it is blank or could not have been stored."""
    sku = normalize_sku(value)
    if sku is None or len(sku) > SKU_MAX or "\x00" in sku:
        return None
    return sku


def _violated_constraint(exc: IntegrityError) -> str | None:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    name = getattr(cause, "constraint_name", None)
    return name if isinstance(name, str) else None


@dataclass(frozen=True)
class _Request:
    """A validated reservation request."""

    sku: str
    quantity: int
    reference: str | None
    idempotency_key: str | None


def _reservation_request(
    sku: str | None, quantity: int, reference: str | None, idempotency_key: str | None
) -> _Request:
    return _Request(
        sku=_sku(sku),
        quantity=_quantity(quantity, "reservation_quantity_invalid"),
        reference=_clean(reference, field="reference", label="Reference", max_length=REFERENCE_MAX, required=False),
        idempotency_key=_clean(
            idempotency_key,
            field="idempotency_key",
            label="Idempotency key",
            max_length=IDEMPOTENCY_KEY_MAX,
            required=False,
        ),
    )


@dataclass(frozen=True)
class _LockedRow:
    item: StockItem
    warehouse_code: str
    location_code: str
    active: bool


def _reservation_dto(reservation: StockReservation) -> StockReservationDto:
    return StockReservationDto.model_validate(reservation)


class InventoryStore:
    """The inventory context's unit-of-work operations. Never commits: the caller's transaction does."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- warehouses and locations -------------------------------------------------------------------

    async def list_warehouses(self) -> list[WarehouseDto]:
        """All warehouses, ordered by code."""
        rows = await self._session.scalars(select(Warehouse).order_by(Warehouse.code))
        return [WarehouseDto.model_validate(row) for row in rows]

    async def create_warehouse(self, code: str | None, name: str | None) -> WarehouseDto:
        """Create an active warehouse; its code is stored upper-cased and is globally unique."""
        code = _required(code, field="warehouse_code", label="Warehouse code", max_length=CODE_MAX, upper=True)
        name = _required(name, field="warehouse_name", label="Warehouse name", max_length=WAREHOUSE_NAME_MAX)
        warehouse = Warehouse(id=uuid4(), code=code, name=name, is_active=True, created_at=utcnow())
        try:
            async with self._session.begin_nested():
                self._session.add(warehouse)
        except IntegrityError as exc:
            if _violated_constraint(exc) != "uq_warehouses_code":
                raise
            raise InventoryError(
                "warehouse_code_already_exists", f"A warehouse with code '{code}' already exists"
            ) from None
        return WarehouseDto.model_validate(warehouse)

    async def list_locations(self, warehouse_id: UUID | None = None) -> list[StorageLocationDto]:
        """Storage locations ordered by code, optionally of one warehouse only."""
        query = select(StorageLocation).order_by(StorageLocation.code, StorageLocation.id)
        if warehouse_id is not None:
            query = query.where(StorageLocation.warehouse_id == warehouse_id)
        rows = await self._session.scalars(query)
        return [StorageLocationDto.model_validate(row) for row in rows]

    async def create_location(self, warehouse_id: UUID, code: str | None) -> StorageLocationDto:
        """Create an active location in an active warehouse; its code is unique within the warehouse."""
        code = _required(code, field="location_code", label="Location code", max_length=CODE_MAX, upper=True)
        warehouse = await self._session.get(Warehouse, warehouse_id)
        if warehouse is None:
            raise InventoryError("warehouse_not_found", f"Warehouse '{warehouse_id}' does not exist")
        if not warehouse.is_active:
            raise InventoryError("warehouse_inactive", f"Warehouse '{warehouse.code}' is not active")
        location = StorageLocation(
            id=uuid4(), warehouse_id=warehouse.id, code=code, is_active=True, created_at=utcnow()
        )
        try:
            async with self._session.begin_nested():
                self._session.add(location)
        except IntegrityError as exc:
            if _violated_constraint(exc) != "uq_storage_locations_warehouse_code":
                raise
            raise InventoryError(
                "location_code_already_exists",
                f"Warehouse '{warehouse.code}' already has a location with code '{code}'",
            ) from None
        return StorageLocationDto.model_validate(location)

    # --- stock ----------------------------------------------------------------------------------------

    async def receive(
        self,
        sku: str | None,
        warehouse_id: UUID,
        location_id: UUID,
        quantity: int,
        reason: str | None = None,
    ) -> StockReceiptDto:
        """Add `quantity` to the on-hand stock of a (sku, warehouse, location) row, creating the row."""
        sku = _sku(sku)
        quantity = _quantity(quantity, "receipt_quantity_invalid")
        reason = _clean(reason, field="reason", label="Reason", max_length=REASON_MAX, required=False)
        warehouse = await self._session.get(Warehouse, warehouse_id)
        if warehouse is None:
            raise InventoryError("warehouse_not_found", f"Warehouse '{warehouse_id}' does not exist")
        location = await self._session.get(StorageLocation, location_id)
        if location is None:
            raise InventoryError("location_not_found", f"Location '{location_id}' does not exist")
        if location.warehouse_id != warehouse.id:
            raise InventoryError(
                "location_warehouse_mismatch",
                f"Location '{location.code}' does not belong to warehouse '{warehouse.code}'",
            )

        now = utcnow()
        # concurrent first receipts of a row: one inserts, the others find it and wait on its lock
        await self._session.execute(
            pg_insert(StockItem)
            .values(
                id=uuid4(),
                sku=sku,
                warehouse_id=warehouse.id,
                location_id=location.id,
                on_hand=0,
                reserved=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(constraint="uq_stock_items_sku_warehouse_location")
        )
        item = (
            await self._session.scalars(
                self._lock(
                    (StockItem.sku == sku)
                    & (StockItem.warehouse_id == warehouse.id)
                    & (StockItem.location_id == location.id)
                )
            )
        ).one()
        if item.on_hand > INT64_MAX - quantity:
            raise InventoryError(
                "receipt_quantity_invalid", f"The on-hand quantity of '{sku}' would exceed {INT64_MAX}"
            )
        item.on_hand += quantity
        item.updated_at = now
        self._add_movement(item, MovementType.RECEIPT, quantity, reason, None, now)
        await self._session.flush()
        return StockReceiptDto(
            sku=sku,
            warehouse_id=item.warehouse_id,
            location_id=item.location_id,
            received_quantity=quantity,
            on_hand_quantity=item.on_hand,
            reserved_quantity=item.reserved,
            available_quantity=item.on_hand - item.reserved,
        )

    async def get_stock(self, sku: str) -> StockSummaryDto | None:
        """Totals and per-location balances of a SKU; None if it was never received."""
        normalized = _lookup_sku(sku)
        if normalized is None:
            return None
        rows = (
            await self._session.execute(
                select(StockItem, Warehouse.code, StorageLocation.code)
                .join(Warehouse, Warehouse.id == StockItem.warehouse_id)
                .join(StorageLocation, StorageLocation.id == StockItem.location_id)
                .where(StockItem.sku == normalized)
                .order_by(Warehouse.code, StorageLocation.code)
            )
        ).all()
        if not rows:
            return None
        locations = [
            StockLocationBalanceDto(
                warehouse_id=item.warehouse_id,
                warehouse_code=warehouse_code,
                location_id=item.location_id,
                location_code=location_code,
                on_hand_quantity=item.on_hand,
                reserved_quantity=item.reserved,
                available_quantity=item.on_hand - item.reserved,
            )
            for item, warehouse_code, location_code in rows
        ]
        on_hand = sum(row.on_hand_quantity for row in locations)
        reserved = sum(row.reserved_quantity for row in locations)
        return StockSummaryDto(
            sku=normalized,
            total_on_hand_quantity=on_hand,
            total_reserved_quantity=reserved,
            total_available_quantity=on_hand - reserved,
            locations=locations,
        )

    async def list_movements(
        self, sku: str | None = None, limit: int = DEFAULT_MOVEMENTS_LIMIT
    ) -> list[StockMovementDto]:
        """The ledger, newest first; `limit` is clamped to 1..500, a blank `sku` means every SKU."""
        limit = min(max(limit, 1), MAX_MOVEMENTS_LIMIT)
        query = (
            select(StockMovement, Warehouse.code, StorageLocation.code)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
            .join(StorageLocation, StorageLocation.id == StockMovement.location_id)
            .order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
            .limit(limit)
        )
        if normalize_sku(sku) is not None:
            normalized = _lookup_sku(sku)
            if normalized is None:
                return []
            query = query.where(StockMovement.sku == normalized)
        rows = (await self._session.execute(query)).all()
        return [
            StockMovementDto(
                id=movement.id,
                sku=movement.sku,
                warehouse_id=movement.warehouse_id,
                warehouse_code=warehouse_code,
                location_id=movement.location_id,
                location_code=location_code,
                type=MovementType(movement.type),
                quantity=movement.quantity,
                reason=movement.reason,
                created_at=movement.created_at,
            )
            for movement, warehouse_code, location_code in rows
        ]

    # --- reservations ---------------------------------------------------------------------------------

    async def get_reservation(self, reservation_id: UUID) -> StockReservationDto | None:
        """One reservation as it is now, or None."""
        reservation = (
            await self._session.scalars(
                select(StockReservation)
                .where(StockReservation.id == reservation_id)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        return None if reservation is None else _reservation_dto(reservation)

    async def reserve(
        self,
        sku: str | None,
        warehouse_id: UUID,
        location_id: UUID,
        quantity: int,
        reference: str | None,
        idempotency_key: str | None = None,
    ) -> StockReservationDto:
        """Reserve at an explicit (warehouse, location); a known `idempotency_key` returns its reservation."""
        request = _reservation_request(sku, quantity, reference, idempotency_key)
        existing = await self._claim_key(request.idempotency_key)
        if existing is not None:
            return existing
        item = (
            await self._session.scalars(
                self._lock(
                    (StockItem.sku == request.sku)
                    & (StockItem.warehouse_id == warehouse_id)
                    & (StockItem.location_id == location_id)
                )
            )
        ).one_or_none()
        if item is None:
            raise StockItemNotFoundError(request.sku)
        if item.on_hand - item.reserved < request.quantity:
            raise InsufficientStockError(request.sku, request.quantity)
        return await self._reserve_on(item, request)

    async def allocate(
        self, sku: str | None, quantity: int, reference: str | None, idempotency_key: str | None = None
    ) -> StockReservationDto:
        """Reserve `quantity` of a SKU at the first location that has it all (section 3.2's rule).

        With an `idempotency_key` that already names a reservation, that reservation is returned as it is
        (whatever its status) and nothing is written; concurrent calls with one key wait for each other.
        """
        request = _reservation_request(sku, quantity, reference, idempotency_key)
        return await self._allocate(request)

    async def allocate_many(self, lines: Sequence[AllocationLine]) -> list[StockReservationDto]:
        """Allocate every line or none: the first refused line's error is raised and nothing stays reserved."""
        requests: list[_Request] = []
        refusal: DomainError | None = None
        for line in lines:
            try:
                requests.append(_reservation_request(line.sku, line.quantity, line.reference, line.idempotency_key))
            except DomainError as exc:
                refusal = exc
                break
        async with self._session.begin_nested():
            for key in sorted({r.idempotency_key for r in requests if r.idempotency_key is not None}):
                await self._lock_key(key)
            skus = sorted({r.sku for r in requests})
            if skus:
                await self._session.scalars(self._lock(StockItem.sku.in_(skus)))
            reservations = [await self._allocate(request) for request in requests]
            if refusal is not None:
                raise refusal
        return reservations

    async def release(self, reservation_id: UUID) -> StockReservationDto:
        """Active -> Released (frees the stock); releasing a Released reservation changes nothing."""
        return (await self._settle([reservation_id], ReservationStatus.RELEASED))[0]

    async def commit(self, reservation_id: UUID) -> StockReservationDto:
        """Active -> Committed (the units leave on-hand); committing a Committed one changes nothing."""
        return (await self._settle([reservation_id], ReservationStatus.COMMITTED))[0]

    async def release_many(self, reservation_ids: Sequence[UUID]) -> list[StockReservationDto]:
        """`release` for each id, all or none; results in the order of `reservation_ids`."""
        async with self._session.begin_nested():
            return await self._settle(reservation_ids, ReservationStatus.RELEASED)

    async def commit_many(self, reservation_ids: Sequence[UUID]) -> list[StockReservationDto]:
        """`commit` for each id, all or none; results in the order of `reservation_ids`."""
        async with self._session.begin_nested():
            return await self._settle(reservation_ids, ReservationStatus.COMMITTED)

    # --- internals ------------------------------------------------------------------------------------

    @staticmethod
    def _lock(condition: ColumnElement[bool]) -> Select[StockItem]:
        """Stock rows matching `condition`, locked in id order (the one order every path uses)."""
        return (
            select(StockItem)
            .where(condition)
            .order_by(StockItem.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def _lock_key(self, key: str) -> None:
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(:key))"),
            {"lock_class": _KEY_LOCK_CLASS, "key": key},
        )

    async def _claim_key(self, key: str | None) -> StockReservationDto | None:
        """Serialise the callers of one key; the reservation it already names, if any."""
        if key is None:
            return None
        await self._lock_key(key)
        existing = (
            await self._session.scalars(
                select(StockReservation)
                .where(StockReservation.idempotency_key == key)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        return None if existing is None else _reservation_dto(existing)

    async def _allocate(self, request: _Request) -> StockReservationDto:
        existing = await self._claim_key(request.idempotency_key)
        if existing is not None:
            return existing
        rows = [
            _LockedRow(item, warehouse_code, location_code, warehouse_active and location_active)
            for item, warehouse_code, warehouse_active, location_code, location_active in (
                await self._session.execute(
                    select(
                        StockItem,
                        Warehouse.code,
                        Warehouse.is_active,
                        StorageLocation.code,
                        StorageLocation.is_active,
                    )
                    .join(Warehouse, Warehouse.id == StockItem.warehouse_id)
                    .join(StorageLocation, StorageLocation.id == StockItem.location_id)
                    .where(StockItem.sku == request.sku)
                    .order_by(StockItem.id)
                    .with_for_update(of=StockItem)
                    .execution_options(populate_existing=True)
                )
            ).all()
        ]
        if not rows:
            raise StockItemNotFoundError(request.sku)
        candidates = sorted(
            (row for row in rows if row.active and row.item.on_hand - row.item.reserved >= request.quantity),
            key=lambda row: (row.warehouse_code, row.location_code),
        )
        if not candidates:
            raise InsufficientStockError(request.sku, request.quantity)
        return await self._reserve_on(candidates[0].item, request)

    async def _reserve_on(self, item: StockItem, request: _Request) -> StockReservationDto:
        """Reserve on a row the caller holds locked and has checked for availability."""
        now = utcnow()
        item.reserved += request.quantity
        item.updated_at = now
        reservation = StockReservation(
            id=uuid4(),
            stock_item_id=item.id,
            sku=item.sku,
            warehouse_id=item.warehouse_id,
            location_id=item.location_id,
            quantity=request.quantity,
            status=ReservationStatus.ACTIVE.value,
            reference=request.reference,
            idempotency_key=request.idempotency_key,
            created_at=now,
            released_at=None,
            committed_at=None,
        )
        self._session.add(reservation)
        await self._session.flush()
        self._add_movement(item, MovementType.RESERVATION, request.quantity, request.reference, reservation.id, now)
        await self._session.flush()
        return _reservation_dto(reservation)

    async def _settle(self, reservation_ids: Sequence[UUID], target: ReservationStatus) -> list[StockReservationDto]:
        """Move reservations to Released or Committed, in order; the first refusal is raised."""
        reservations = {
            reservation.id: reservation
            for reservation in await self._session.scalars(
                select(StockReservation)
                .where(StockReservation.id.in_(set(reservation_ids)))
                .order_by(StockReservation.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        to_change = {r.stock_item_id for r in reservations.values() if r.status == ReservationStatus.ACTIVE}
        items = (
            {item.id: item for item in await self._session.scalars(self._lock(StockItem.id.in_(to_change)))}
            if to_change
            else {}
        )
        settled = [self._settle_one(reservations.get(rid), rid, items, target) for rid in reservation_ids]
        await self._session.flush()
        return settled

    def _settle_one(
        self,
        reservation: StockReservation | None,
        reservation_id: UUID,
        items: dict[UUID, StockItem],
        target: ReservationStatus,
    ) -> StockReservationDto:
        if reservation is None:
            raise ReservationNotFoundError(reservation_id)
        if reservation.status == target:
            return _reservation_dto(reservation)
        if reservation.status != ReservationStatus.ACTIVE:
            raise ReservationNotActiveError(reservation.id, reservation.status)
        item = items.get(reservation.stock_item_id)
        if item is None:
            raise StockItemNotFoundError(reservation.sku)
        if item.reserved < reservation.quantity:
            raise InventoryError(
                "reservation_state_invalid",
                f"The stock row of reservation '{reservation.id}' holds less than it reserved",
            )
        if target == ReservationStatus.COMMITTED and item.on_hand < reservation.quantity:
            raise InventoryError(
                "insufficient_on_hand_stock",
                f"The stock row of reservation '{reservation.id}' has less on hand than it reserved",
            )
        now = utcnow()
        item.reserved -= reservation.quantity
        if target == ReservationStatus.COMMITTED:
            item.on_hand -= reservation.quantity
            reservation.committed_at = now
            movement = MovementType.SHIPMENT
        else:
            reservation.released_at = now
            movement = MovementType.RELEASE
        item.updated_at = now
        reservation.status = target.value
        self._add_movement(item, movement, -reservation.quantity, reservation.reference, reservation.id, now)
        return _reservation_dto(reservation)

    def _add_movement(
        self,
        item: StockItem,
        movement_type: MovementType,
        quantity: int,
        reason: str | None,
        reservation_id: UUID | None,
        created_at: datetime,
    ) -> None:
        self._session.add(
            StockMovement(
                id=uuid4(),
                sku=item.sku,
                warehouse_id=item.warehouse_id,
                location_id=item.location_id,
                type=movement_type.value,
                quantity=quantity,
                reason=reason,
                reservation_id=reservation_id,
                created_at=created_at,
            )
        )
