"""Tables owned by the ordering context, all in the `ordering` PostgreSQL schema.

Orders keep trusted snapshots of what was bought; other contexts are referenced by id only.
"""

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA = "ordering"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_created_at", "created_at"),
        # an email's orders awaiting payment, counted before placing another (`OrderingStore.open_orders`)
        Index("ix_orders_email_status", func.lower(text("customer_email")), "status"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(300))
    customer_email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(32))
    total_amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    items: Mapped[list["OrderItem"]] = relationship(
        back_populates="order", order_by="OrderItem.sku", lazy="selectin", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    order_id: Mapped[UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[UUID]
    product_variant_id: Mapped[UUID]
    sku: Mapped[str] = mapped_column(String(100))
    product_name: Mapped[str] = mapped_column(String(300))
    variant_name: Mapped[str] = mapped_column(String(300))
    unit_price_amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_amount_minor: Mapped[int] = mapped_column(BigInteger)
    inventory_reservation_id: Mapped[UUID | None] = mapped_column(unique=True)

    order: Mapped[Order] = relationship(back_populates="items")


class IdempotencyKey(Base):
    """An `Idempotency-Key` of one route, bound to the fingerprint of the request that first used it.

    The key itself is not stored, only its keyed digest. `resource_id` is what the key created (an order, a
    payment, a shipment; None for an action); `attempt` counts the placements given up for it (a retry after a
    transient failure places again, under a fresh order id); `completed_at` marks follow-up work done once
    (a checkout emptying its cart).
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    resource_id: Mapped[UUID | None]
    attempt: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
