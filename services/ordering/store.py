"""The ordering store: orders as the order workflow records them. Only the workflow's activities write here."""

import builtins
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import OrderDetails, OrderStatus, reached_from
from services.errors import DomainError
from services.ordering import models
from services.ordering import statements as sql
from services.ordering.errors import OrderAlreadyPlacedError, OrderNotFoundError, OrderStatusConflictError
from services.ordering.schemas import OrderListItemDto
from services.paging import FIRST_PAGE, Keyset, PageRequest, PageResult, desc
from services.validation import INT64_MAX

COMPENSATED_STATUSES = (OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value)


@dataclass(frozen=True)
class OrderFilter:
    """What the operator console narrows the orders table by; None means any."""

    status: OrderStatus | None = None
    customer_email: str | None = None  # exact match, case-insensitive
    created_on: date | None = None  # UTC day


@dataclass(frozen=True)
class OrderPage:
    items: list[OrderListItemDto]
    total: int


@dataclass(frozen=True)
class OrderTotal:
    """An order's total in minor units, its currency, and its status: what a payment of it is checked against."""

    status: OrderStatus
    total_amount_minor: int
    currency: str


@dataclass(frozen=True)
class MinuteActivity:
    """Orders placed, and orders that ended compensated (Cancelled or Expired), in one minute."""

    minute: datetime
    placed: int
    compensated: int


def _item_count() -> Select[int]:
    return select(func.count(models.OrderItem.id)).where(models.OrderItem.order_id == models.Order.id)


def _list_item(order: models.Order, count: int) -> OrderListItemDto:
    return OrderListItemDto(
        id=order.id,
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        status=OrderStatus(order.status),
        total_amount_minor=order.total_amount_minor,
        currency=order.currency,
        item_count=count,
        created_at=order.created_at,
    )


ORDERS = Keyset("orders", desc(models.Order.created_at), models.Order.id)


class OrderingStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, order: OrderDetails) -> bool:
        """Store a newly placed order with its lines; the same placement again changes nothing.

        True when this call stored it. Another placement under the id of a recorded order (a run started anew
        under a finished order's id once Temporal had forgotten its run) is refused (`OrderAlreadyPlacedError`):
        its lines' ids, drawn by the run that placed it, tell the two apart. One statement whatever the number of
        lines (`statements.RECORD_ORDER`), so it is atomic without a transaction around it; only a repeat reads
        one line back.

        Amounts are BIGINT: a total beyond int64 (huge prices times quantities) is refused with
        `order_total_too_large` instead of failing in PostgreSQL on every retry. No line total exceeds the
        order total, since prices are never negative.
        """
        if order.total_amount_minor > INT64_MAX:
            raise DomainError("order_total_too_large", f"The order total must not exceed {INT64_MAX} minor units")
        stored = await self.session.scalar(
            sql.RECORD_ORDER,
            {
                "id": order.id,
                "customer_name": order.customer_name,
                "customer_email": order.customer_email,
                "status": order.status.value,
                "total_amount_minor": order.total_amount_minor,
                "currency": order.currency,
                "created_at": order.created_at,
                "updated_at": order.updated_at,
                "item_id": [item.id for item in order.items],
                "product_id": [item.product_id for item in order.items],
                "product_variant_id": [item.product_variant_id for item in order.items],
                "sku": [item.sku for item in order.items],
                "product_name": [item.product_name for item in order.items],
                "variant_name": [item.variant_name for item in order.items],
                "unit_price_amount_minor": [item.unit_price_amount_minor for item in order.items],
                "item_currency": [item.currency for item in order.items],
                "quantity": [item.quantity for item in order.items],
                "line_total_amount_minor": [item.line_total_amount_minor for item in order.items],
                "inventory_reservation_id": [item.inventory_reservation_id for item in order.items],
            },
        )
        if stored == 1:
            return True
        if (
            order.items
            and await self.session.scalar(sql.SAME_PLACEMENT, {"order_id": order.id, "item_id": order.items[0].id})
            is None
        ):
            raise OrderAlreadyPlacedError(order.id)
        return False

    async def record_status(self, order_id: UUID, status: OrderStatus, at: datetime) -> bool:
        """Record a transition decided by the order workflow: only from a status it is reached from.

        True when this call changed the status; recording the current status again is a no-op. Any other status is
        left as it is and refused (`OrderStatusConflictError`): a run that is not the order's own (a key that
        restarted a finished order once Temporal had forgotten its run) never turns a Shipped order Cancelled.
        One statement, unless nothing changed: then a second one tells a repeat from a conflict or an unknown
        order (`OrderNotFoundError`). The order's own run is the only writer of its status, so the two need no
        common snapshot and the caller may run them without a transaction.
        """
        params = {
            "order_id": order_id,
            "new_status": status.value,
            "from_statuses": sorted(source.value for source in reached_from(status)),
            "at": at,
        }
        if await self.session.scalar(sql.RECORD_STATUS, params) is not None:
            return True
        current = await self.status(order_id)
        if current is None:
            raise OrderNotFoundError()
        if current is not status:
            raise OrderStatusConflictError(order_id, current, status)
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
        """The order with its lines ordered by SKU, or None. One statement (`statements.ORDER_WITH_LINES`)."""
        rows = (await self.session.execute(sql.ORDER_WITH_LINES, {"order_id": order_id})).all()
        if not rows:
            return None
        first = rows[0]._mapping
        order = {name: first[name] for name in sql.ORDER_FIELDS}
        order["items"] = [
            {name: row._mapping[f"item_{name}"] for name in sql.LINE_FIELDS}
            for row in rows
            if row._mapping["item_id"] is not None
        ]
        return OrderDetails.model_validate(order)

    async def total(self, order_id: UUID) -> OrderTotal | None:
        """What the order asks to be paid and its status (one row, no lines), or None if there is no such order."""
        row = (await self.session.execute(sql.TOTAL, {"order_id": order_id})).one_or_none()
        if row is None:
            return None
        status, amount_minor, currency = row
        return OrderTotal(status=OrderStatus(status), total_amount_minor=amount_minor, currency=currency)

    async def status(self, order_id: UUID, *, hold: bool = False) -> OrderStatus | None:
        """The order's recorded status (one column of one row), or None if there is no such order.

        With `hold`, the row is share-locked until the caller's transaction ends: a status change waits for it,
        so what the caller writes on the strength of this status commits before the change does.
        """
        status = await self.session.scalar(sql.STATUS_HELD if hold else sql.STATUS, {"order_id": order_id})
        return OrderStatus(status) if status is not None else None

    async def open_orders(self, customer_email: str, placing: UUID) -> int:
        """How many orders awaiting payment hold back placing order `placing` for `customer_email` (trimmed,
        lower-cased): the email's others, or none when `placing` is placed already (a retry answers with it).

        One statement, on `ix_orders_email_status` and the primary key.
        """
        order = models.Order
        placed = select(order.id).where(order.id == placing).exists()
        count = await self.session.scalar(
            select(func.count())
            .select_from(order)
            .where(
                func.lower(order.customer_email) == func.lower(func.btrim(customer_email)),
                order.status == OrderStatus.PENDING_PAYMENT.value,
                ~placed,
            )
        )
        return count or 0

    async def list(self, page: PageRequest = FIRST_PAGE) -> PageResult[OrderListItemDto]:
        """A page of the orders, newest first, each with its number of lines."""
        rows = await self.session.execute(
            ORDERS.apply(select(models.Order, _item_count().scalar_subquery().label("item_count")), page)
        )
        return ORDERS.page([_list_item(order, count) for order, count in rows.all()], page)

    async def search(self, where: OrderFilter, *, offset: int, limit: int) -> OrderPage:
        """One page of the orders matching `where`, newest first, and how many match in all."""
        conditions = []
        if where.status is not None:
            conditions.append(models.Order.status == where.status.value)
        if where.customer_email:
            conditions.append(func.lower(models.Order.customer_email) == where.customer_email.strip().lower())
        if where.created_on is not None:
            start = datetime.combine(where.created_on, time(), tzinfo=UTC)
            conditions.append(models.Order.created_at >= start)
            conditions.append(models.Order.created_at < start + timedelta(days=1))
        total = await self.session.scalar(select(func.count(models.Order.id)).where(*conditions))
        rows = await self.session.execute(
            select(models.Order, _item_count().scalar_subquery().label("item_count"))
            .where(*conditions)
            .order_by(models.Order.created_at.desc(), models.Order.id)
            .offset(max(offset, 0))
            .limit(max(limit, 1))
        )
        return OrderPage(items=[_list_item(order, count) for order, count in rows.all()], total=total or 0)

    async def count_by_status(self) -> dict[OrderStatus, int]:
        """How many orders are in each status (statuses with none are left out)."""
        rows = await self.session.execute(
            select(models.Order.status, func.count(models.Order.id)).group_by(models.Order.status)
        )
        return {OrderStatus(status): count for status, count in rows.all()}

    async def activity_per_minute(self, since: datetime) -> builtins.list[MinuteActivity]:
        """Per minute since `since` (only minutes with activity): orders placed, and orders that ended
        Cancelled or Expired — each of those ran its compensations (stock released, payments refunded)."""
        placed_minute = func.date_trunc("minute", models.Order.created_at)
        ended_minute = func.date_trunc("minute", models.Order.updated_at)
        placed = await self.session.execute(
            select(placed_minute, func.count()).where(models.Order.created_at >= since).group_by(placed_minute)
        )
        ended = await self.session.execute(
            select(ended_minute, func.count())
            .where(models.Order.updated_at >= since, models.Order.status.in_(COMPENSATED_STATUSES))
            .group_by(ended_minute)
        )
        counts: dict[datetime, list[int]] = {}
        for minute, count in placed.all():
            counts.setdefault(minute, [0, 0])[0] = count
        for minute, count in ended.all():
            counts.setdefault(minute, [0, 0])[1] = count
        return [MinuteActivity(minute, placed, compensated) for minute, (placed, compensated) in sorted(counts.items())]
