"""Warehouses, locations, stock balances, the movement ledger and reservations (contract section 3).

Concurrency: every change of a stock row happens under its row lock (`SELECT ... FOR UPDATE`). Locks are
always taken in one order, so two units of work never wait on each other in a cycle:
idempotency keys (advisory locks, by lock id) -> reservations (by id) -> stock rows (by id).
Allocation locks every row of the SKU before choosing one, so two allocations can never both take the
last units. The database's CHECK constraints are the backstop, not the mechanism.

Allocating and settling many reservations costs as many round trips as allocating or settling one: every
lock is taken by one statement per kind, every line is decided in memory against the locked rows, and then
one statement each writes the reservations, their movements and the stock rows. Lists travel as array
parameters, so each statement's text (and prepared plan) is the same for any number of lines.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Select,
    String,
    Table,
    TableValuedAlias,
    Uuid,
    any_,
    bindparam,
    column,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.types import TypeEngine

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
    Base,
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
# Every key lock of a unit of work in one statement, in lock-id order (ties by key): the one order all
# callers use. pg_advisory_xact_lock is volatile, so PostgreSQL evaluates it after the sort, row by row.
_LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, hashtext(k)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY hashtext(k), k"
)


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


@dataclass
class _Candidate:
    """A stock row locked for allocation; `reserved` includes what this allocation has placed on it."""

    id: UUID
    sku: str
    warehouse_id: UUID
    location_id: UUID
    on_hand: int
    reserved: int
    active: bool

    def fits(self, quantity: int) -> bool:
        return self.active and self.on_hand - self.reserved >= quantity


@dataclass(frozen=True)
class _Placement:
    """A reservation decided in memory, and the locked row it is on."""

    reservation: StockReservationDto
    row: _Candidate
    idempotency_key: str | None


def _reservation_dto(reservation: StockReservation) -> StockReservationDto:
    return StockReservationDto.model_validate(reservation)


def _rows(name: str, **columns: TypeEngine[Any]) -> TableValuedAlias:
    """The derived table `name(column, ...)` unnesting one array parameter per column, named after it."""
    return (
        func.unnest(*(bindparam(key, type_=ARRAY(kind)) for key, kind in columns.items()))
        .table_valued(*(column(key, kind) for key, kind in columns.items()))
        .render_derived(name=name)
    )


def _table(model: type[Base]) -> Table:
    """The table of a model, for Core statements: cheaper rows, and an insert's parameters stay parameters."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


_RESERVATIONS = _table(StockReservation)
_MOVEMENTS = _table(StockMovement)
_ITEMS = _table(StockItem)
_WAREHOUSES = _table(Warehouse)
_LOCATIONS = _table(StorageLocation)

# The statements of allocation and settlement, built once: a call pays neither their construction nor their
# cache key.
_NOW = bindparam("now", type_=DateTime(timezone=True))
_KNOWN_KEYS = select(_RESERVATIONS).where(
    _RESERVATIONS.c.idempotency_key == any_(bindparam("keys", type_=ARRAY(String())))
)
_LOCK_CANDIDATES = (
    select(
        _ITEMS.c.id,
        _ITEMS.c.sku,
        _ITEMS.c.warehouse_id,
        _ITEMS.c.location_id,
        _ITEMS.c.on_hand,
        _ITEMS.c.reserved,
        _WAREHOUSES.c.is_active & _LOCATIONS.c.is_active,
        _WAREHOUSES.c.code,
        _LOCATIONS.c.code,
    )
    .join(_WAREHOUSES, _WAREHOUSES.c.id == _ITEMS.c.warehouse_id)
    .join(_LOCATIONS, _LOCATIONS.c.id == _ITEMS.c.location_id)
    .where(_ITEMS.c.sku == any_(bindparam("skus", type_=ARRAY(String()))))
    .order_by(_ITEMS.c.id)
    .with_for_update(of=_ITEMS)
)
_LOCK_RESERVATIONS = (
    select(StockReservation)
    .where(StockReservation.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .order_by(StockReservation.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_LOCK_BALANCES = (
    select(_ITEMS.c.id, _ITEMS.c.on_hand, _ITEMS.c.reserved)
    .where(_ITEMS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .order_by(_ITEMS.c.id)
    .with_for_update()
)
_new_reservations = _rows(
    "r",
    id=Uuid(),
    stock_item_id=Uuid(),
    sku=String(),
    warehouse_id=Uuid(),
    location_id=Uuid(),
    quantity=BigInteger(),
    reference=String(),
    idempotency_key=String(),
)
_INSERT_RESERVATIONS = insert(_RESERVATIONS).from_select(
    [*_new_reservations.c.keys(), "status", "created_at"],
    select(_new_reservations, literal(ReservationStatus.ACTIVE.value, String()), _NOW),
)
_new_movements = _rows(
    "m",
    id=Uuid(),
    sku=String(),
    warehouse_id=Uuid(),
    location_id=Uuid(),
    quantity=BigInteger(),
    reason=String(),
    reservation_id=Uuid(),
)
_INSERT_MOVEMENTS = insert(_MOVEMENTS).from_select(
    [*_new_movements.c.keys(), "type", "created_at"],
    select(_new_movements, bindparam("type", type_=String()), _NOW),
)
_balances = _rows("b", item_id=Uuid(), on_hand=BigInteger(), reserved=BigInteger())
_UPDATE_STOCK = (
    update(_ITEMS)
    .where(_ITEMS.c.id == _balances.c.item_id)
    .values(on_hand=_balances.c.on_hand, reserved=_balances.c.reserved, updated_at=_NOW)
)
_SETTLE_RESERVATIONS = {
    target: update(_RESERVATIONS)
    .where(_RESERVATIONS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .values({"status": target.value, stamp: _NOW})
    for target, stamp in ((ReservationStatus.RELEASED, "released_at"), (ReservationStatus.COMMITTED, "committed_at"))
}


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
        if request.idempotency_key is not None:
            existing = await self._claim_keys([request.idempotency_key])
            if existing:
                return existing[request.idempotency_key]
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
        return (await self._allocate_all([request], None))[0]

    async def allocate_many(self, lines: Sequence[AllocationLine]) -> list[StockReservationDto]:
        """Allocate every line or none: the first refused line's error is raised and nothing stays reserved.

        Lines are placed in order, each by `allocate`'s rule and seeing the lines before it; a line whose
        key already names a reservation (or an earlier line's) gets that reservation. The number of
        database round trips does not grow with the number of lines.
        """
        requests: list[_Request] = []
        refusal: DomainError | None = None
        for line in lines:
            try:
                requests.append(_reservation_request(line.sku, line.quantity, line.reference, line.idempotency_key))
            except DomainError as exc:
                refusal = exc
                break
        return await self._allocate_all(requests, refusal)

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

    async def _claim_keys(self, keys: Sequence[str]) -> dict[str, StockReservationDto]:
        """Serialise the callers of each key (two statements for any number); the reservations they name."""
        if not keys:
            return {}
        unique = sorted(set(keys))
        await self._session.execute(_LOCK_KEYS, {"lock_class": _KEY_LOCK_CLASS, "keys": unique})
        # a statement of its own, so that its snapshot is taken after the locks are held
        existing = await self._session.execute(_KNOWN_KEYS, {"keys": unique})
        return {r.idempotency_key: StockReservationDto.model_validate(r) for r in existing}

    async def _allocate_all(
        self, requests: Sequence[_Request], refusal: DomainError | None
    ) -> list[StockReservationDto]:
        """Place `requests` in order, then raise `refusal` if there is one; all or nothing.

        Every lock is taken before any line is decided, and nothing is written before every line is: a
        refused line leaves nothing behind. A failing write aborts the caller's transaction (PostgreSQL's rule),
        so the three writes stand or fall together without a savepoint of their own.
        """
        known = await self._claim_keys([r.idempotency_key for r in requests if r.idempotency_key is not None])
        candidates = await self._lock_candidates({r.sku for r in requests if r.idempotency_key not in known})
        now = utcnow()
        placements: list[_Placement] = []
        results: list[StockReservationDto] = []
        for request in requests:
            key = request.idempotency_key
            if key is not None and key in known:
                results.append(known[key])
                continue
            rows = candidates.get(request.sku)
            if not rows:
                raise StockItemNotFoundError(request.sku)
            row = next((row for row in rows if row.fits(request.quantity)), None)
            if row is None:
                raise InsufficientStockError(request.sku, request.quantity)
            row.reserved += request.quantity
            reservation = StockReservationDto(
                id=uuid4(),
                sku=row.sku,
                warehouse_id=row.warehouse_id,
                location_id=row.location_id,
                quantity=request.quantity,
                status=ReservationStatus.ACTIVE,
                reference=request.reference,
                created_at=now,
                released_at=None,
                committed_at=None,
            )
            placements.append(_Placement(reservation, row, key))
            if key is not None:
                known[key] = reservation
            results.append(reservation)
        if refusal is not None:
            raise refusal
        if placements:
            new = [p.reservation for p in placements]
            await self._session.execute(
                _INSERT_RESERVATIONS,
                {
                    "id": [r.id for r in new],
                    "stock_item_id": [p.row.id for p in placements],
                    "sku": [r.sku for r in new],
                    "warehouse_id": [r.warehouse_id for r in new],
                    "location_id": [r.location_id for r in new],
                    "quantity": [r.quantity for r in new],
                    "reference": [r.reference for r in new],
                    "idempotency_key": [p.idempotency_key for p in placements],
                    "now": now,
                },
            )
            await self._insert_movements(MovementType.RESERVATION, new, now)
            await self._update_stock({p.row.id: (p.row.on_hand, p.row.reserved) for p in placements}, now)
        return results

    async def _lock_candidates(self, skus: set[str]) -> dict[str, list[_Candidate]]:
        """Lock every stock row of `skus`, by id; each SKU's rows in allocation order (warehouse, location)."""
        if not skus:
            return {}
        by_sku: dict[str, list[tuple[tuple[str, str], _Candidate]]] = {}
        for (
            item_id,
            sku,
            warehouse_id,
            location_id,
            on_hand,
            reserved,
            active,
            warehouse,
            location,
        ) in await self._session.execute(_LOCK_CANDIDATES, {"skus": sorted(skus)}):
            candidate = _Candidate(item_id, sku, warehouse_id, location_id, on_hand, reserved, active)
            by_sku.setdefault(sku, []).append(((warehouse, location), candidate))
        return {sku: [c for _, c in sorted(rows, key=lambda pair: pair[0])] for sku, rows in by_sku.items()}

    async def _insert_movements(
        self,
        movement_type: MovementType,
        reservations: Sequence[StockReservation | StockReservationDto],
        now: datetime,
    ) -> None:
        """One movement per reservation: +quantity for a Reservation, -quantity for a Release or Shipment."""
        sign = 1 if movement_type == MovementType.RESERVATION else -1
        await self._session.execute(
            _INSERT_MOVEMENTS,
            {
                "id": [uuid4() for _ in reservations],
                "sku": [r.sku for r in reservations],
                "warehouse_id": [r.warehouse_id for r in reservations],
                "location_id": [r.location_id for r in reservations],
                "quantity": [sign * r.quantity for r in reservations],
                "reason": [r.reference for r in reservations],
                "reservation_id": [r.id for r in reservations],
                "type": movement_type.value,
                "now": now,
            },
        )

    async def _update_stock(self, balances: dict[UUID, tuple[int, int]], now: datetime) -> None:
        """Set the (on_hand, reserved) of stock rows the caller holds locked and has decided in memory."""
        await self._session.execute(
            _UPDATE_STOCK,
            {
                "item_id": list(balances),
                "on_hand": [on_hand for on_hand, _ in balances.values()],
                "reserved": [reserved for _, reserved in balances.values()],
                "now": now,
            },
        )
        # a stock row this session holds as an object must not go stale
        for item_id, (on_hand, reserved) in balances.items():
            cached = self._session.identity_map.get(identity_key(StockItem, item_id))
            if cached is not None:
                set_committed_value(cached, "on_hand", on_hand)
                set_committed_value(cached, "reserved", reserved)
                set_committed_value(cached, "updated_at", now)

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
        """Move reservations to Released or Committed, in order; the first refusal is raised, all or nothing.

        Decided in memory against the locked rows, then written in three statements whatever the count.
        """
        unique_ids = list(dict.fromkeys(reservation_ids))
        reservations = {r.id: r for r in await self._session.scalars(_LOCK_RESERVATIONS, {"ids": unique_ids})}
        to_change = sorted({r.stock_item_id for r in reservations.values() if r.status == ReservationStatus.ACTIVE})
        balances = (
            {
                item_id: (on_hand, reserved)
                for item_id, on_hand, reserved in await self._session.execute(_LOCK_BALANCES, {"ids": to_change})
            }
            if to_change
            else {}
        )
        changing: list[StockReservation] = []
        for reservation_id in unique_ids:  # a repeated id gets the outcome of its first occurrence
            reservation = self._settle_one(reservations.get(reservation_id), reservation_id, balances, target)
            if reservation is not None:
                changing.append(reservation)
        if changing:
            now = utcnow()
            stamp = "committed_at" if target == ReservationStatus.COMMITTED else "released_at"
            movement = MovementType.SHIPMENT if target == ReservationStatus.COMMITTED else MovementType.RELEASE
            await self._session.execute(_SETTLE_RESERVATIONS[target], {"ids": [r.id for r in changing], "now": now})
            await self._insert_movements(movement, changing, now)
            await self._update_stock({r.stock_item_id: balances[r.stock_item_id] for r in changing}, now)
            for reservation in changing:
                set_committed_value(reservation, "status", target.value)
                set_committed_value(reservation, stamp, now)
        return [_reservation_dto(reservations[reservation_id]) for reservation_id in reservation_ids]

    @staticmethod
    def _settle_one(
        reservation: StockReservation | None,
        reservation_id: UUID,
        balances: dict[UUID, tuple[int, int]],
        target: ReservationStatus,
    ) -> StockReservation | None:
        """Refuse, or decide one settlement in `balances`; the reservation if it changes, None if it is done."""
        if reservation is None:
            raise ReservationNotFoundError(reservation_id)
        if reservation.status == target:
            return None
        if reservation.status != ReservationStatus.ACTIVE:
            raise ReservationNotActiveError(reservation.id, reservation.status)
        balance = balances.get(reservation.stock_item_id)
        if balance is None:
            raise StockItemNotFoundError(reservation.sku)
        on_hand, reserved = balance
        if reserved < reservation.quantity:
            raise InventoryError(
                "reservation_state_invalid",
                f"The stock row of reservation '{reservation.id}' holds less than it reserved",
            )
        if target == ReservationStatus.COMMITTED:
            if on_hand < reservation.quantity:
                raise InventoryError(
                    "insufficient_on_hand_stock",
                    f"The stock row of reservation '{reservation.id}' has less on hand than it reserved",
                )
            on_hand -= reservation.quantity
        balances[reservation.stock_item_id] = (on_hand, reserved - reservation.quantity)
        return reservation

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
