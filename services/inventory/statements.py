"""The statements of allocation, settlement and receipt, built once at import: a call pays neither their
construction nor their cache key.

Lists travel as array parameters (`unnest`), so each statement's text, and its prepared plan, is the same for
any number of lines. Every lock is taken in one order, so two units of work never wait on each other in a
cycle: idempotency keys (advisory locks, by lock id) -> reservations (by id) -> stock rows (by id).
"""

from sqlalchemy import (
    BigInteger,
    DateTime,
    String,
    Uuid,
    any_,
    bindparam,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.inventory.models import StockItem, StockMovement, StockReservation, StorageLocation, Warehouse
from services.inventory.schemas import ReservationStatus
from services.sql import core_table, unnest_rows

RESERVATIONS = core_table(StockReservation)
MOVEMENTS = core_table(StockMovement)
ITEMS = core_table(StockItem)
WAREHOUSES = core_table(Warehouse)
LOCATIONS = core_table(StorageLocation)

_NOW = bindparam("now", type_=DateTime(timezone=True))

# first half of the two-int advisory lock id of an idempotency key (the second half is the key's hash)
KEY_LOCK_CLASS = 0x494E56
# Every key lock of a unit of work in one statement, in lock-id order (ties by key): the one order all
# callers use. pg_advisory_xact_lock is volatile, so PostgreSQL evaluates it after the sort, row by row.
LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, hashtext(k)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY hashtext(k), k"
)
KNOWN_KEYS = select(RESERVATIONS).where(
    RESERVATIONS.c.idempotency_key == any_(bindparam("keys", type_=ARRAY(String())))
)

# Every stock row of the SKUs, locked by id, with what allocation orders and filters them by.
LOCK_CANDIDATES = (
    select(
        ITEMS.c.id,
        ITEMS.c.sku,
        ITEMS.c.warehouse_id,
        ITEMS.c.location_id,
        ITEMS.c.on_hand,
        ITEMS.c.reserved,
        (WAREHOUSES.c.is_active & LOCATIONS.c.is_active).label("active"),
        WAREHOUSES.c.code.label("warehouse_code"),
        LOCATIONS.c.code.label("location_code"),
    )
    .join(WAREHOUSES, WAREHOUSES.c.id == ITEMS.c.warehouse_id)
    .join(LOCATIONS, LOCATIONS.c.id == ITEMS.c.location_id)
    .where(ITEMS.c.sku == any_(bindparam("skus", type_=ARRAY(String()))))
    .order_by(ITEMS.c.id)
    .with_for_update(of=ITEMS)
)
LOCK_RESERVATIONS = (
    select(RESERVATIONS)
    .where(RESERVATIONS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .order_by(RESERVATIONS.c.id)
    .with_for_update()
)
LOCK_BALANCES = (
    select(ITEMS.c.id, ITEMS.c.on_hand, ITEMS.c.reserved)
    .where(ITEMS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .order_by(ITEMS.c.id)
    .with_for_update()
)
# A receipt's row: created empty by the first receipt (concurrent first receipts: one inserts, the others
# find it and wait on its lock), then locked.
CREATE_ROW = (
    pg_insert(ITEMS)
    .values(
        id=bindparam("id"),
        sku=bindparam("sku"),
        warehouse_id=bindparam("warehouse_id"),
        location_id=bindparam("location_id"),
        on_hand=0,
        reserved=0,
        created_at=_NOW,
        updated_at=_NOW,
    )
    .on_conflict_do_nothing(constraint="uq_stock_items_sku_warehouse_location")
)
LOCK_ROW = (
    select(ITEMS.c.id, ITEMS.c.on_hand, ITEMS.c.reserved)
    .where(
        ITEMS.c.sku == bindparam("sku"),
        ITEMS.c.warehouse_id == bindparam("warehouse_id"),
        ITEMS.c.location_id == bindparam("location_id"),
    )
    .with_for_update()
)

# Named apart from the stock rows' columns, like the ledger's below: the reservations are written in the stock
# update's statement.
_new_reservations = unnest_rows(
    "r",
    reservation_id=Uuid(),
    reservation_stock_item_id=Uuid(),
    reservation_sku=String(),
    reservation_warehouse_id=Uuid(),
    reservation_location_id=Uuid(),
    reservation_quantity=BigInteger(),
    reservation_reference=String(),
    reservation_idempotency_key=String(),
)
_INSERT_RESERVATIONS = insert(RESERVATIONS).from_select(
    [
        "id",
        "stock_item_id",
        "sku",
        "warehouse_id",
        "location_id",
        "quantity",
        "reference",
        "idempotency_key",
        "status",
        "created_at",
    ],
    select(_new_reservations, literal(ReservationStatus.ACTIVE.value, String()), _NOW),
)
# Named apart from the stock rows' columns: the ledger is written in the stock update's statement, whose
# parameters must not look like values for those columns.
_new_movements = unnest_rows(
    "m",
    movement_id=Uuid(),
    movement_sku=String(),
    movement_warehouse_id=Uuid(),
    movement_location_id=Uuid(),
    movement_quantity=BigInteger(),
    movement_reason=String(),
    movement_reservation_id=Uuid(),
)
_INSERT_MOVEMENTS = insert(MOVEMENTS).from_select(
    ["id", "sku", "warehouse_id", "location_id", "quantity", "reason", "reservation_id", "type", "created_at"],
    select(_new_movements, bindparam("movement_type", type_=String()), _NOW),
)
_balances = unnest_rows("b", item_id=Uuid(), on_hand=BigInteger(), reserved=BigInteger())
# Core, not ORM-enabled: the ORM's per-execution work (and loading the returned rows as objects) cost more than
# the statements. The store sets what they wrote on any object of these rows its session holds (`_written`).
_UPDATE_STOCK = (
    update(ITEMS)
    .where(ITEMS.c.id == _balances.c.item_id)
    .values(on_hand=_balances.c.on_hand, reserved=_balances.c.reserved, updated_at=_NOW)
)
# Every change of stock writes its ledger lines and the stock rows together: one statement, one round trip.
WRITE_LEDGER_AND_STOCK = _UPDATE_STOCK.add_cte(_INSERT_MOVEMENTS.cte("new_movements"))
# Allocation's writes, one statement: the new reservations, their ledger lines, the stock rows.
PLACE = WRITE_LEDGER_AND_STOCK.add_cte(_INSERT_RESERVATIONS.cte("new_reservations"))
# Settlement's writes, one statement: the reservations' new status (returned), their ledger lines, the stock rows.
SETTLE = {
    target: update(RESERVATIONS)
    .where(RESERVATIONS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .values({"status": target.value, stamp: _NOW})
    .returning(*RESERVATIONS.c)
    .add_cte(_INSERT_MOVEMENTS.cte("new_movements"))
    .add_cte(_UPDATE_STOCK.cte("new_balances"))
    for target, stamp in ((ReservationStatus.RELEASED, "released_at"), (ReservationStatus.COMMITTED, "committed_at"))
}
