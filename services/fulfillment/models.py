"""Tables owned by the fulfillment context, all in the `fulfillment` PostgreSQL schema."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "fulfillment"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Shipment(Base):
    """A shipment of an order. `order_id` refers to the ordering context by id only; no uniqueness per order."""

    __tablename__ = "shipments"
    __table_args__ = (
        CheckConstraint("status IN ('Pending', 'Shipped', 'Cancelled')", name="ck_shipments_status"),
        Index("ix_shipments_order_id", "order_id"),
        Index("ix_shipments_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
