"""Tables owned by the inventory context, all in the `inventory` PostgreSQL schema.

Quantities are int64 (`BIGINT`). `available = on_hand - reserved` is derived, never stored. The database
itself refuses negative stock, over-reservation and zero-quantity movements (contract section 3.4), and
refuses a second movement of one type for one reservation, so a retried release or commit can never write
the ledger twice.
"""

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "inventory"

CODE_MAX = 100
WAREHOUSE_NAME_MAX = 200
SKU_MAX = 100
REASON_MAX = 1000
REFERENCE_MAX = 200
IDEMPOTENCY_KEY_MAX = 200
ENUM_MAX = 20

MOVEMENT_TYPES = ("Receipt", "Adjustment", "Shipment", "Reservation", "Release")
RESERVATION_STATUSES = ("Active", "Released", "Committed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Warehouse(Base):
    __tablename__ = "warehouses"
    __table_args__ = (UniqueConstraint("code", name="uq_warehouses_code"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    name: Mapped[str] = mapped_column(String(WAREHOUSE_NAME_MAX))
    is_active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StorageLocation(Base):
    __tablename__ = "storage_locations"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "code", name="uq_storage_locations_warehouse_code"),
        # target of the stock rows' composite key: a stock row's location belongs to its warehouse
        UniqueConstraint("warehouse_id", "id", name="uq_storage_locations_warehouse_id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    warehouse_id: Mapped[UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.warehouses.id", name="fk_storage_locations_warehouse")
    )
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    is_active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StockItem(Base):
    """The balance of one SKU at one (warehouse, location)."""

    __tablename__ = "stock_items"
    __table_args__ = (
        UniqueConstraint("sku", "warehouse_id", "location_id", name="uq_stock_items_sku_warehouse_location"),
        ForeignKeyConstraint(
            ["warehouse_id", "location_id"],
            [f"{SCHEMA}.storage_locations.warehouse_id", f"{SCHEMA}.storage_locations.id"],
            name="fk_stock_items_location",
        ),
        CheckConstraint("on_hand >= 0", name="ck_stock_items_on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="ck_stock_items_reserved_non_negative"),
        CheckConstraint("reserved <= on_hand", name="ck_stock_items_reserved_within_on_hand"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_MAX))
    warehouse_id: Mapped[UUID]
    location_id: Mapped[UUID]
    on_hand: Mapped[int] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StockReservation(Base):
    __tablename__ = "stock_reservations"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_stock_reservations_idempotency_key"),
        CheckConstraint("quantity > 0", name="ck_stock_reservations_quantity_positive"),
        CheckConstraint(_one_of("status", RESERVATION_STATUSES), name="ck_stock_reservations_status"),
        Index("ix_stock_reservations_stock_item_id", "stock_item_id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    stock_item_id: Mapped[UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.stock_items.id", name="fk_stock_reservations_stock_item")
    )
    sku: Mapped[str] = mapped_column(String(SKU_MAX))
    warehouse_id: Mapped[UUID]
    location_id: Mapped[UUID]
    quantity: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(ENUM_MAX))
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_MAX))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StockMovement(Base):
    """One signed change of a stock row; the ledger is append-only."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        UniqueConstraint("reservation_id", "type", name="uq_stock_movements_reservation_type"),
        CheckConstraint("quantity <> 0", name="ck_stock_movements_quantity_non_zero"),
        CheckConstraint(_one_of("type", MOVEMENT_TYPES), name="ck_stock_movements_type"),
        Index("ix_stock_movements_created_at", "created_at"),
        Index("ix_stock_movements_sku_created_at", "sku", "created_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_MAX))
    warehouse_id: Mapped[UUID]
    location_id: Mapped[UUID]
    type: Mapped[str] = mapped_column(String(ENUM_MAX))
    quantity: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    reservation_id: Mapped[UUID | None] = mapped_column(
        ForeignKey(f"{SCHEMA}.stock_reservations.id", name="fk_stock_movements_reservation")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
