"""The ordering store: orders as the order workflow records them. Only the workflow's activities write here."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import OrderDetails, OrderStatus
from services.errors import DomainError
from services.ordering import models
from services.ordering.errors import OrderNotFoundError
from services.ordering.schemas import OrderListItemDto
from services.validation import INT64_MAX


class OrderingStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, order: OrderDetails) -> bool:
        """Store a newly placed order with its lines; a second call with the same id changes nothing.

        True when this call stored it. Two statements whatever the number of lines; nothing is read back.

        Amounts are BIGINT: a total beyond int64 (huge prices times quantities) is refused with
        `order_total_too_large` instead of failing in PostgreSQL on every retry. No line total exceeds the
        order total, since prices are never negative.
        """
        if order.total_amount_minor > INT64_MAX:
            raise DomainError("order_total_too_large", f"The order total must not exceed {INT64_MAX} minor units")
        inserted = await self.session.execute(
            insert(models.Order)
            .values(
                id=order.id,
                customer_name=order.customer_name,
                customer_email=order.customer_email,
                status=order.status.value,
                total_amount_minor=order.total_amount_minor,
                currency=order.currency,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
            .on_conflict_do_nothing(index_elements=[models.Order.id])
            .returning(models.Order.id)
        )
        if inserted.scalar_one_or_none() is None:
            return False
        if order.items:
            await self.session.execute(
                insert(models.OrderItem),
                [{"order_id": order.id, **item.model_dump(by_alias=False)} for item in order.items],
            )
        return True

    async def record_status(self, order_id: UUID, status: OrderStatus, at: datetime) -> bool:
        """Record a transition decided by the order workflow; recording the current status again is a no-op.

        True when this call changed the status. One statement, unless nothing changed: then a second one tells
        a repeat (no-op) from an unknown order (`OrderNotFoundError`).
        """
        changed = await self.session.execute(
            update(models.Order)
            .where(models.Order.id == order_id, models.Order.status != status.value)
            .values(status=status.value, updated_at=at)
            .returning(models.Order.id)
        )
        if changed.scalar_one_or_none() is not None:
            return True
        if await self.session.scalar(select(models.Order.id).where(models.Order.id == order_id)) is None:
            raise OrderNotFoundError()
        return False

    async def void(self, order_id: UUID, at: datetime) -> bool:
        """Cancel an order whose placement was given up after it may have been recorded.

        True when a PendingPayment order became Cancelled; no order, or one already past PendingPayment, is left
        as it is (the placement never answered, so nothing can have paid for it).
        """
        voided = await self.session.execute(
            update(models.Order)
            .where(models.Order.id == order_id, models.Order.status == OrderStatus.PENDING_PAYMENT.value)
            .values(status=OrderStatus.CANCELLED.value, updated_at=at)
            .returning(models.Order.id)
        )
        return voided.scalar_one_or_none() is not None

    async def get(self, order_id: UUID) -> OrderDetails | None:
        """The order with its lines ordered by SKU, or None."""
        order = await self.session.get(models.Order, order_id, populate_existing=True)
        return OrderDetails.model_validate(order) if order is not None else None

    async def status(self, order_id: UUID) -> OrderStatus | None:
        """The order's recorded status (one column of one row), or None if there is no such order."""
        status = await self.session.scalar(select(models.Order.status).where(models.Order.id == order_id))
        return OrderStatus(status) if status is not None else None

    async def list(self) -> list[OrderListItemDto]:
        """Every order, newest first, with its number of lines."""
        item_count = (
            select(func.count(models.OrderItem.id))
            .where(models.OrderItem.order_id == models.Order.id)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(models.Order, item_count.label("item_count")).order_by(
                models.Order.created_at.desc(), models.Order.id
            )
        )
        return [
            OrderListItemDto(
                id=order.id,
                customer_name=order.customer_name,
                customer_email=order.customer_email,
                status=OrderStatus(order.status),
                total_amount_minor=order.total_amount_minor,
                currency=order.currency,
                item_count=count,
                created_at=order.created_at,
            )
            for order, count in rows.all()
        ]
