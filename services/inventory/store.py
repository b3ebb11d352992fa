"""Warehouses, locations, stock balances, the movement ledger and reservations (contract section 3).

The store is the transactional shell: it checks a request (`validation`), locks the rows a decision needs,
lets the pure decision run on them (`allocation`), and writes what was decided (`statements`).

Concurrency: every change of a stock row happens under its row lock (`SELECT ... FOR UPDATE`), and locks are
always taken in one order (see `statements`). Allocation locks every row of the SKU before choosing one, so
two allocations can never both take the last units. The database's CHECK constraints are the backstop, not
the mechanism.

Allocating and settling many reservations costs as many round trips as allocating or settling one: every
lock is taken by one statement per kind, every line is decided in memory against the locked rows, and then
one statement writes the reservations (or settles them), and one the ledger lines with the stock rows.
Explicit reservations (`reserve`) and allocations take this one path.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Executable, Result, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from services.errors import DomainError, violated_constraint
from services.inventory import statements as sql
from services.inventory import validation
from services.inventory.allocation import (
    Balance,
    HeldReservation,
    Place,
    Placement,
    ReservationRequest,
    StockRow,
    place_all,
    receive_into,
    settle_all,
)
from services.inventory.errors import InventoryError
from services.inventory.models import StockItem, StockMovement, StockReservation, StorageLocation, Warehouse
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
from services.paging import FIRST_PAGE, Keyset, PageRequest, PageResult, desc
from services.schemas import utcnow

WAREHOUSES = Keyset("warehouses", Warehouse.code, Warehouse.id)
LOCATIONS = Keyset("locations", StorageLocation.code, StorageLocation.id)
MOVEMENTS = Keyset("movements", desc(StockMovement.created_at), desc(StockMovement.id))


@dataclass(frozen=True)
class _Movement:
    """One ledger line to write."""

    sku: str
    place: Place
    quantity: int
    reason: str | None
    reservation_id: UUID | None


class InventoryStore:
    """The inventory context's unit-of-work operations. Never commits: the caller's transaction does."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- warehouses and locations -------------------------------------------------------------------

    async def list_warehouses(self, page: PageRequest = FIRST_PAGE) -> PageResult[WarehouseDto]:
        """A page of the warehouses, ordered by code."""
        rows = await self._session.scalars(WAREHOUSES.apply(select(Warehouse), page))
        return WAREHOUSES.page([WarehouseDto.model_validate(row) for row in rows], page)

    async def create_warehouse(self, code: str | None, name: str | None) -> WarehouseDto:
        """Create an active warehouse; its code is stored upper-cased and is globally unique."""
        code = validation.warehouse_code(code)
        name = validation.warehouse_name(name)
        warehouse = Warehouse(id=uuid4(), code=code, name=name, is_active=True, created_at=utcnow())
        try:
            async with self._session.begin_nested():
                self._session.add(warehouse)
        except IntegrityError as exc:
            if violated_constraint(exc) != "uq_warehouses_code":
                raise
            raise InventoryError(
                "warehouse_code_already_exists", f"A warehouse with code '{code}' already exists"
            ) from None
        return WarehouseDto.model_validate(warehouse)

    async def list_locations(
        self, warehouse_id: UUID | None = None, page: PageRequest = FIRST_PAGE
    ) -> PageResult[StorageLocationDto]:
        """A page of the storage locations ordered by code, optionally of one warehouse only."""
        query = select(StorageLocation)
        if warehouse_id is not None:
            query = query.where(StorageLocation.warehouse_id == warehouse_id)
        rows = await self._session.scalars(LOCATIONS.apply(query, page))
        return LOCATIONS.page([StorageLocationDto.model_validate(row) for row in rows], page)

    async def create_location(self, warehouse_id: UUID, code: str | None) -> StorageLocationDto:
        """Create an active location in an active warehouse; its code is unique within the warehouse."""
        code = validation.location_code(code)
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
            if violated_constraint(exc) != "uq_storage_locations_warehouse_code":
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
        sku = validation.sku(sku)
        quantity = validation.quantity(quantity, "receipt_quantity_invalid")
        reason = validation.reason(reason)
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
        where = {"sku": sku, "warehouse_id": warehouse.id, "location_id": location.id}
        await self._session.execute(sql.CREATE_ROW, {"id": uuid4(), "now": now, **where})
        item_id, on_hand, reserved = (await self._session.execute(sql.LOCK_ROW, where)).one()
        balance = receive_into(Balance(on_hand, reserved), quantity, sku)
        place = Place(warehouse.id, location.id)
        receipt = [_Movement(sku, place, quantity, reason, None)]
        await self._write(sql.WRITE_LEDGER_AND_STOCK, MovementType.RECEIPT, receipt, {item_id: balance}, now)
        return StockReceiptDto(
            sku=sku,
            warehouse_id=warehouse.id,
            location_id=location.id,
            received_quantity=quantity,
            on_hand_quantity=balance.on_hand,
            reserved_quantity=balance.reserved,
            available_quantity=balance.on_hand - balance.reserved,
        )

    async def get_stock(self, sku: str) -> StockSummaryDto | None:
        """Totals and per-location balances of a SKU; None if it was never received."""
        normalized = validation.lookup_sku(sku)
        if normalized is None:
            return None
        rows = (
            await self._session.execute(
                select(
                    StockItem.warehouse_id,
                    StockItem.location_id,
                    StockItem.on_hand,
                    StockItem.reserved,
                    Warehouse.code.label("warehouse_code"),
                    StorageLocation.code.label("location_code"),
                )
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
                warehouse_id=row.warehouse_id,
                warehouse_code=row.warehouse_code,
                location_id=row.location_id,
                location_code=row.location_code,
                on_hand_quantity=row.on_hand,
                reserved_quantity=row.reserved,
                available_quantity=row.on_hand - row.reserved,
            )
            for row in rows
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
        self, sku: str | None = None, page: PageRequest = FIRST_PAGE
    ) -> PageResult[StockMovementDto]:
        """A page of the ledger, newest first; a blank `sku` means every SKU."""
        query = MOVEMENTS.apply(
            select(StockMovement, Warehouse.code, StorageLocation.code)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
            .join(StorageLocation, StorageLocation.id == StockMovement.location_id),
            page,
        )
        if validation.normalize_sku(sku) is not None:
            normalized = validation.lookup_sku(sku)
            if normalized is None:
                return PageResult([], None)
            query = query.where(StockMovement.sku == normalized)
        rows = (await self._session.execute(query)).all()
        listed = [
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
        return MOVEMENTS.page(listed, page)

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
        return None if reservation is None else StockReservationDto.model_validate(reservation)

    async def active_reservation_key(self, reservation_id: UUID) -> str | None:
        """The idempotency key of a reservation that is Active; None if it has none, is settled or is unknown."""
        key: str | None = await self._session.scalar(
            select(StockReservation.idempotency_key).where(
                StockReservation.id == reservation_id, StockReservation.status == ReservationStatus.ACTIVE
            )
        )
        return key

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
        place = Place(warehouse_id, location_id)
        request = validation.reservation_request(sku, quantity, reference, idempotency_key, place)
        return (await self._place([request], None))[0]

    async def allocate(
        self, sku: str | None, quantity: int, reference: str | None, idempotency_key: str | None = None
    ) -> StockReservationDto:
        """Reserve `quantity` of a SKU at the first location that has it all (section 3.2's rule).

        With an `idempotency_key` that already names a reservation, that reservation is returned as it is
        (whatever its status) and nothing is written; concurrent calls with one key wait for each other.
        """
        request = validation.reservation_request(sku, quantity, reference, idempotency_key)
        return (await self._place([request], None))[0]

    async def allocate_many(self, lines: Sequence[AllocationLine]) -> list[StockReservationDto]:
        """Allocate every line or none: the first refused line's error is raised and nothing stays reserved.

        Lines are placed in order, each by `allocate`'s rule and seeing the lines before it; a line whose
        key already names a reservation (or an earlier line's) gets that reservation. The number of
        database round trips does not grow with the number of lines.
        """
        requests: list[ReservationRequest] = []
        refusal: DomainError | None = None
        for line in lines:
            try:
                requests.append(
                    validation.reservation_request(line.sku, line.quantity, line.reference, line.idempotency_key)
                )
            except DomainError as exc:
                refusal = exc
                break
        return await self._place(requests, refusal)

    async def release(self, reservation_id: UUID) -> StockReservationDto:
        """Active -> Released (frees the stock); releasing a Released reservation changes nothing."""
        return (await self._settle([reservation_id], ReservationStatus.RELEASED))[0]

    async def commit(self, reservation_id: UUID) -> StockReservationDto:
        """Active -> Committed (the units leave on-hand); committing a Committed one changes nothing."""
        return (await self._settle([reservation_id], ReservationStatus.COMMITTED))[0]

    async def release_many(self, reservation_ids: Sequence[UUID]) -> list[StockReservationDto]:
        """`release` for each id, all or none; results in the order of `reservation_ids`."""
        return await self._settle(reservation_ids, ReservationStatus.RELEASED)

    async def commit_many(self, reservation_ids: Sequence[UUID]) -> list[StockReservationDto]:
        """`commit` for each id, all or none; results in the order of `reservation_ids`."""
        return await self._settle(reservation_ids, ReservationStatus.COMMITTED)

    async def release_by_keys(self, idempotency_keys: Sequence[str]) -> list[StockReservationDto]:
        """Release the Active reservations made with these keys, whether or not their caller learnt the ids.

        Keys without a reservation, and reservations no longer Active, are left as they are. The keys are
        claimed as `allocate` claims them, so an allocation with one of them still in flight is waited for.
        """
        known = await self._claim_keys(idempotency_keys)
        active = [reservation.id for reservation in known.values() if reservation.status is ReservationStatus.ACTIVE]
        return await self._settle(active, ReservationStatus.RELEASED) if active else []

    # --- the shell around the decisions ---------------------------------------------------------------

    async def _claim_keys(self, keys: Sequence[str]) -> dict[str, StockReservationDto]:
        """Serialise the callers of each key (two statements for any number); the reservations they name."""
        if not keys:
            return {}
        unique = sorted(set(keys))
        await self._session.execute(sql.LOCK_KEYS, {"lock_class": sql.KEY_LOCK_CLASS, "keys": unique})
        # a statement of its own, so that its snapshot is taken after the locks are held
        existing = await self._session.execute(sql.KNOWN_KEYS, {"keys": unique})
        return {r.idempotency_key: StockReservationDto.model_validate(r) for r in existing}

    async def _place(
        self, requests: Sequence[ReservationRequest], refusal: DomainError | None
    ) -> list[StockReservationDto]:
        """Place `requests` in order, then raise `refusal` if there is one; all or nothing.

        Every lock is taken before any line is decided, and nothing is written before every line is: a
        refused line leaves nothing behind. A failing write aborts the caller's transaction (PostgreSQL's rule),
        so the three writes stand or fall together without a savepoint of their own.
        """
        known = await self._claim_keys([r.idempotency_key for r in requests if r.idempotency_key is not None])
        rows = await self._lock_rows({r.sku for r in requests if r.idempotency_key not in known})
        outcomes = place_all(requests, rows, known)
        if refusal is not None:
            raise refusal
        now = utcnow()
        new: dict[Placement, StockReservationDto] = {}
        for outcome in outcomes:
            if isinstance(outcome, Placement) and outcome not in new:
                new[outcome] = _new_reservation(outcome, now)
        if new:
            placements = list(new)
            reservations = list(new.values())
            await self._write(
                sql.PLACE,
                MovementType.RESERVATION,
                [_movement(r, 1) for r in reservations],
                {p.row.id: Balance(p.row.on_hand, p.row.reserved) for p in placements},
                now,
                {
                    "reservation_id": [r.id for r in reservations],
                    "reservation_stock_item_id": [p.row.id for p in placements],
                    "reservation_sku": [r.sku for r in reservations],
                    "reservation_warehouse_id": [r.warehouse_id for r in reservations],
                    "reservation_location_id": [r.location_id for r in reservations],
                    "reservation_quantity": [r.quantity for r in reservations],
                    "reservation_reference": [r.reference for r in reservations],
                    "reservation_idempotency_key": [p.request.idempotency_key for p in placements],
                },
            )
        return [new[outcome] if isinstance(outcome, Placement) else outcome for outcome in outcomes]

    async def _lock_rows(self, skus: set[str]) -> dict[str, list[StockRow]]:
        """Lock every stock row of `skus`, by id; each SKU's rows in allocation order (warehouse, location)."""
        if not skus:
            return {}
        ordered: dict[str, list[tuple[tuple[str, str], StockRow]]] = {}
        for row in await self._session.execute(sql.LOCK_CANDIDATES, {"skus": sorted(skus)}):
            stock = StockRow(
                row.id, row.sku, Place(row.warehouse_id, row.location_id), row.on_hand, row.reserved, row.active
            )
            ordered.setdefault(row.sku, []).append(((row.warehouse_code, row.location_code), stock))
        return {sku: [stock for _, stock in sorted(rows, key=lambda pair: pair[0])] for sku, rows in ordered.items()}

    async def _settle(self, reservation_ids: Sequence[UUID], target: ReservationStatus) -> list[StockReservationDto]:
        """Move reservations to Released or Committed, in order; the first refusal is raised, all or nothing.

        Decided in memory against the locked rows, then written in three statements whatever the count.
        """
        unique_ids = list(dict.fromkeys(reservation_ids))
        locked = {r.id: r for r in await self._session.execute(sql.LOCK_RESERVATIONS, {"ids": unique_ids})}
        held = {r.id: HeldReservation(r.id, r.stock_item_id, r.sku, r.quantity, r.status) for r in locked.values()}
        to_change = sorted({r.stock_item_id for r in held.values() if r.status == ReservationStatus.ACTIVE})
        balances = (
            {
                item_id: Balance(on_hand, reserved)
                for item_id, on_hand, reserved in await self._session.execute(sql.LOCK_BALANCES, {"ids": to_change})
            }
            if to_change
            else {}
        )
        changing = settle_all(unique_ids, held, balances, target)
        results = {r.id: StockReservationDto.model_validate(r) for r in locked.values()}
        if changing:
            now = utcnow()
            movement = MovementType.SHIPMENT if target == ReservationStatus.COMMITTED else MovementType.RELEASE
            settled = await self._write(
                sql.SETTLE[target],
                movement,
                [_movement(results[r.id], -1) for r in changing],  # what a ledger line names does not change
                {r.stock_item_id: balances[r.stock_item_id] for r in changing},
                now,
                {"ids": [r.id for r in changing]},
            )
            for reservation in settled:
                results[reservation.id] = StockReservationDto.model_validate(reservation)
                self._written(StockReservation, reservation.id, reservation._asdict())
        return [results[reservation_id] for reservation_id in reservation_ids]

    async def _write(
        self,
        statement: Executable,
        movement_type: MovementType,
        movements: Sequence[_Movement],
        balances: dict[UUID, Balance],
        now: datetime,
        more: Mapping[str, object] | None = None,
    ) -> Result[Any]:
        """Write the ledger lines of a change and set the balances of the stock rows it changed, with whatever
        else `statement` writes (its parameters in `more`): one statement, one round trip.

        The caller holds those rows locked and has decided the balances in memory.
        """
        result = await self._session.execute(
            statement,
            {
                "movement_id": [uuid4() for _ in movements],
                "movement_sku": [m.sku for m in movements],
                "movement_warehouse_id": [m.place.warehouse_id for m in movements],
                "movement_location_id": [m.place.location_id for m in movements],
                "movement_quantity": [m.quantity for m in movements],
                "movement_reason": [m.reason for m in movements],
                "movement_reservation_id": [m.reservation_id for m in movements],
                "movement_type": movement_type.value,
                "item_id": list(balances),
                "on_hand": [b.on_hand for b in balances.values()],
                "reserved": [b.reserved for b in balances.values()],
                "now": now,
                **(more or {}),
            },
        )
        for item_id, balance in balances.items():
            written = {"on_hand": balance.on_hand, "reserved": balance.reserved, "updated_at": now}
            self._written(StockItem, item_id, written)
        return result

    def _written(self, model: type[StockItem | StockReservation], row_id: UUID, values: Mapping[str, object]) -> None:
        """An object of a row the Core statements just wrote, if the session holds one, takes the written values
        (as loaded, not as changes): it never goes stale under these writes."""
        held = self._session.identity_map.get(identity_key(model, row_id))
        if held is not None:
            for name, value in values.items():
                set_committed_value(held, name, value)


def _new_reservation(placement: Placement, now: datetime) -> StockReservationDto:
    return StockReservationDto(
        id=uuid4(),
        sku=placement.row.sku,
        warehouse_id=placement.row.place.warehouse_id,
        location_id=placement.row.place.location_id,
        quantity=placement.request.quantity,
        status=ReservationStatus.ACTIVE,
        reference=placement.request.reference,
        created_at=now,
        released_at=None,
        committed_at=None,
    )


def _movement(reservation: StockReservationDto, sign: int) -> _Movement:
    """The ledger line of a reservation (+1) or of its release or shipment (-1)."""
    place = Place(reservation.warehouse_id, reservation.location_id)
    return _Movement(reservation.sku, place, sign * reservation.quantity, reservation.reference, reservation.id)
