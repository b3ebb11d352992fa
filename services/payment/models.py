"""Tables owned by the payment context, all in the `payment` PostgreSQL schema."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.validation import CURRENCY_LENGTH

SCHEMA = "payment"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Payment(Base):
    """A payment of an order. `order_id` refers to the ordering context by id only.

    A provider's payment (Stripe) has its PaymentIntent's id in `provider_id`, one row per intent, and the money
    the provider reported moving: authorized, captured and refunded, in minor units. A manual one has none."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
        CheckConstraint(
            "status IN ('Pending', 'Succeeded', 'Failed', 'Cancelled', 'Refunded')",
            name="ck_payments_status",
        ),
        Index("ix_payments_order_id", "order_id"),
        Index("ix_payments_created_at", "created_at"),
        UniqueConstraint("provider_id", name="uq_payments_provider_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(CURRENCY_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(100))
    provider_reference: Mapped[str | None] = mapped_column(String(200))
    failure_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_id: Mapped[str | None] = mapped_column(String(255))
    authorized_minor: Mapped[int] = mapped_column(BigInteger, server_default="0")
    captured_minor: Mapped[int] = mapped_column(BigInteger, server_default="0")
    refunded_minor: Mapped[int] = mapped_column(BigInteger, server_default="0")


class WebhookEvent(Base):
    """A provider's webhook event already processed: a redelivery of the same event id changes nothing."""

    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
