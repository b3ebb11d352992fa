"""The statements of the order workflow's steps and of the API's status checks, built once at import.

Recording an order is one statement (the order, then its lines only if the order was new), so it is atomic by
itself and needs no transaction around it; lines travel as array parameters, one statement text for any count.
"""

from sqlalchemy import BigInteger, DateTime, Integer, String, Uuid, bindparam, func, insert, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.ordering.models import Order, OrderItem
from services.sql import core_table, unnest_rows

ORDERS = core_table(Order)
ITEMS = core_table(OrderItem)

_new_order = (
    pg_insert(ORDERS)
    .values(
        id=bindparam("id", type_=Uuid()),
        customer_name=bindparam("customer_name", type_=String()),
        customer_email=bindparam("customer_email", type_=String()),
        status=bindparam("status", type_=String()),
        total_amount_minor=bindparam("total_amount_minor", type_=BigInteger()),
        currency=bindparam("currency", type_=String()),
        created_at=bindparam("created_at", type_=DateTime(timezone=True)),
        updated_at=bindparam("updated_at", type_=DateTime(timezone=True)),
    )
    .on_conflict_do_nothing(index_elements=[ORDERS.c.id])
    .returning(ORDERS.c.id)
    .cte("new_order")
)
_lines = unnest_rows(
    "line",
    item_id=Uuid(),
    product_id=Uuid(),
    product_variant_id=Uuid(),
    sku=String(),
    product_name=String(),
    variant_name=String(),
    unit_price_amount_minor=BigInteger(),
    item_currency=String(),
    quantity=Integer(),
    line_total_amount_minor=BigInteger(),
    inventory_reservation_id=Uuid(),
)
# An order line's columns but its order's id, in the table's order (the lines' parameters carry them; the order's
# id comes from the new order row).
LINE_FIELDS = tuple(column.key for column in ITEMS.c if column.key != "order_id")
# The lines' parameters named apart from their columns: `id` and `currency` are the order's own parameters.
_LINE_PARAMETERS = {"id": "item_id", "currency": "item_currency"}
# The lines are inserted only alongside a new order row: a repeat (the order exists) writes nothing.
_new_lines = (
    insert(ITEMS)
    .from_select(
        ["order_id", *LINE_FIELDS],
        select(_new_order.c.id, *(_lines.c[_LINE_PARAMETERS.get(name, name)] for name in LINE_FIELDS)).select_from(
            _new_order.join(_lines, true())
        ),
    )
    .returning(ITEMS.c.id)
    .cte("new_lines")
)
# How many orders this call stored (1 or 0). PostgreSQL runs both inserts whether or not the result reads them.
RECORD_ORDER = select(func.count()).select_from(_new_order).add_cte(_new_lines)

_ORDER_ID = bindparam("order_id", type_=Uuid())
# A transition the workflow decided, from one of the statuses it applies from: recording the current status again,
# or a status the order cannot reach from where it is (a Shipped order is never Cancelled), matches no row.
RECORD_STATUS = (
    update(ORDERS)
    .where(ORDERS.c.id == _ORDER_ID, ORDERS.c.status.in_(bindparam("from_statuses", expanding=True)))
    .values(status=bindparam("new_status", type_=String()), updated_at=bindparam("at", type_=DateTime(timezone=True)))
    .returning(ORDERS.c.id)
)
STATUS = select(ORDERS.c.status).where(ORDERS.c.id == _ORDER_ID)
# Whether the recorded order is the placement with this line (a line's id is drawn by the run that placed it).
SAME_PLACEMENT = select(ITEMS.c.id).where(
    ITEMS.c.order_id == _ORDER_ID, ITEMS.c.id == bindparam("item_id", type_=Uuid())
)
STATUS_HELD = STATUS.with_for_update(read=True)

# The order with its lines (sorted by SKU), one round trip: a row per line (one row with NULL lines when it has
# none). The line columns are labelled `item_<column>`, the order's keep their names.
ORDER_FIELDS = tuple(column.key for column in ORDERS.c)
ORDER_WITH_LINES = (
    select(*ORDERS.c, *(ITEMS.c[name].label(f"item_{name}") for name in LINE_FIELDS))
    .select_from(ORDERS.outerjoin(ITEMS, ITEMS.c.order_id == ORDERS.c.id))
    .where(ORDERS.c.id == _ORDER_ID)
    .order_by(ITEMS.c.sku, ITEMS.c.id)
)
# What a payment of the order must match, and whether the order awaits one.
TOTAL = select(ORDERS.c.status, ORDERS.c.total_amount_minor, ORDERS.c.currency).where(ORDERS.c.id == _ORDER_ID)
