"""Tables of the inventory context.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "inventory"


def _ts(name: str, nullable: bool = False) -> "sa.Column[datetime]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "warehouses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("code", name="uq_warehouses_code"),
        schema=SCHEMA,
    )
    op.create_table(
        "storage_locations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "warehouse_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.warehouses.id", name="fk_storage_locations_warehouse"),
            nullable=False,
        ),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("warehouse_id", "code", name="uq_storage_locations_warehouse_code"),
        sa.UniqueConstraint("warehouse_id", "id", name="uq_storage_locations_warehouse_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "stock_items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("warehouse_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("sku", "warehouse_id", "location_id", name="uq_stock_items_sku_warehouse_location"),
        sa.ForeignKeyConstraint(
            ["warehouse_id", "location_id"],
            [f"{SCHEMA}.storage_locations.warehouse_id", f"{SCHEMA}.storage_locations.id"],
            name="fk_stock_items_location",
        ),
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_items_on_hand_non_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_items_reserved_non_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_items_reserved_within_on_hand"),
        schema=SCHEMA,
    )
    op.create_table(
        "stock_reservations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "stock_item_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.stock_items.id", name="fk_stock_reservations_stock_item"),
            nullable=False,
        ),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("warehouse_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        _ts("created_at"),
        _ts("released_at", nullable=True),
        _ts("committed_at", nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_stock_reservations_idempotency_key"),
        sa.CheckConstraint("quantity > 0", name="ck_stock_reservations_quantity_positive"),
        sa.CheckConstraint("status IN ('Active', 'Released', 'Committed')", name="ck_stock_reservations_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_stock_reservations_stock_item_id", "stock_reservations", ["stock_item_id"], schema=SCHEMA)
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("warehouse_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column(
            "reservation_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.stock_reservations.id", name="fk_stock_movements_reservation"),
            nullable=True,
        ),
        _ts("created_at"),
        sa.UniqueConstraint("reservation_id", "type", name="uq_stock_movements_reservation_type"),
        sa.CheckConstraint("quantity <> 0", name="ck_stock_movements_quantity_non_zero"),
        sa.CheckConstraint(
            "type IN ('Receipt', 'Adjustment', 'Shipment', 'Reservation', 'Release')",
            name="ck_stock_movements_type",
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_stock_movements_created_at", "stock_movements", ["created_at"], schema=SCHEMA)
    op.create_index("ix_stock_movements_sku_created_at", "stock_movements", ["sku", "created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("stock_movements", schema=SCHEMA)
    op.drop_table("stock_reservations", schema=SCHEMA)
    op.drop_table("stock_items", schema=SCHEMA)
    op.drop_table("storage_locations", schema=SCHEMA)
    op.drop_table("warehouses", schema=SCHEMA)
