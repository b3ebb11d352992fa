"""What each step of a lifecycle costs the worker in CPU: `python -m bench.activity_cost [--rounds N]`.

Runs the activities of place -> pay -> ship (the same instances the worker registers, called directly: no
Temporal) against an embedded PostgreSQL with the migrations and the demo catalog, and prints the mean CPU time
of this process per call of each step, and PostgreSQL's CPU per lifecycle. CPU time, not wall-clock time: on a
shared machine it moves far less with the load, so a change to a hot statement shows in back-to-back runs.
The payment and shipment rows the steps settle are created untimed, as the API creates them.
"""

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import psutil

from activities.catalog import CatalogActivities
from activities.fulfillment import FulfillmentActivities
from activities.inventory import InventoryActivities
from activities.ordering import OrderingActivities
from activities.payment import PaymentActivities
from bench.drivers import demo_variants
from contracts.order import (
    AllocateStock,
    LoadSnapshots,
    OrderLineInput,
    OrderStatus,
    PlaceOrder,
    RecordStatus,
    Reservations,
    ShipShipment,
    StockLine,
    SucceedPayment,
    order_stock_key,
    placed_order,
)
from services.demo import load_demo_data
from services.fulfillment.schemas import CreateShipmentRequest
from services.fulfillment.store import FulfillmentStore
from services.inventory.demo import DEMO_LOCATION_CODE, DEMO_WAREHOUSE_CODE
from services.inventory.store import InventoryStore
from services.payment.schemas import CreatePaymentRequest
from services.payment.store import PaymentStore
from stack import migrate, postgres
from stack.db import create_engine, create_sessionmaker
from stack.settings import Settings

DATABASE = "activity_cost"
STEPS = (
    "load_snapshots",
    "allocate",
    "record_order",
    "mark_succeeded",
    "record_status Paid",
    "mark_shipped",
    "commit",
    "record_status Shipped",
)


def _tree_cpu(pid: int) -> float:
    process = psutil.Process(pid)
    total = 0.0
    for proc in (process, *process.children(recursive=True)):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


class Timer:
    def __init__(self) -> None:
        self.ns = dict.fromkeys(STEPS, 0)

    async def __call__(self, step: str, call: Callable[[], Awaitable[object]]) -> object:
        started = time.process_time_ns()
        result = await call()
        self.ns[step] += time.process_time_ns() - started
        return result


async def measure(database_url: str, postmaster: int, rounds: int, warmup: int) -> None:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    await load_demo_data(sessionmaker)
    variants = demo_variants()
    async with sessionmaker.begin() as session:
        store = InventoryStore(session)
        warehouse = next(w for w in (await store.list_warehouses()).items if w.code == DEMO_WAREHOUSE_CODE)
        location = next(
            loc for loc in (await store.list_locations(warehouse.id)).items if loc.code == DEMO_LOCATION_CODE
        )
        for _, sku in variants:
            await store.receive(sku, warehouse.id, location.id, rounds + warmup)
    catalog, inventory = CatalogActivities(sessionmaker), InventoryActivities(sessionmaker)
    ordering, payment, fulfillment = (
        OrderingActivities(sessionmaker),
        PaymentActivities(sessionmaker),
        FulfillmentActivities(sessionmaker),
    )
    timer = Timer()

    async def lifecycle(index: int, timed: Timer) -> None:
        order_id = uuid.uuid4()
        variant_id, _ = variants[index % len(variants)]
        snapshots = await timed(
            "load_snapshots", lambda: catalog.load_snapshots(LoadSnapshots(variant_ids=[variant_id]))
        )
        assert isinstance(snapshots, list)
        [snapshot] = snapshots
        stock = AllocateStock(
            reference=f"ORDER-{order_id}",
            lines=[StockLine(sku=snapshot.sku, quantity=1, idempotency_key=order_stock_key(order_id, 0))],
        )
        reservation_ids = await timed("allocate", lambda: inventory.allocate(stock))
        assert isinstance(reservation_ids, list)
        place = PlaceOrder(
            order_id=order_id,
            customer_name="Bench Customer",
            customer_email="bench@example.com",
            items=[OrderLineInput(product_variant_id=snapshot.product_variant_id, quantity=1)],
            payment_timeout_seconds=Settings.model_fields["payment_timeout_seconds"].get_default(),
        )
        details = placed_order(place, snapshots, reservation_ids, datetime.now(UTC), uuid.uuid4)
        await timed("record_order", lambda: ordering.record_order(details))
        async with sessionmaker.begin() as session:
            paying = await PaymentStore(session).create(
                CreatePaymentRequest(
                    order_id=order_id,
                    amount_minor=details.total_amount_minor,
                    currency=details.currency,
                    provider="Manual",
                )
            )
        await timed("mark_succeeded", lambda: payment.mark_succeeded(SucceedPayment(payment_id=paying.id)))
        paid = RecordStatus(order_id=order_id, status=OrderStatus.PAID, at=datetime.now(UTC))
        await timed("record_status Paid", lambda: ordering.record_status(paid))
        async with sessionmaker.begin() as session:
            shipment = await FulfillmentStore(session).create(CreateShipmentRequest(order_id=order_id))
        ship = ShipShipment(shipment_id=shipment.id, carrier="Bench", tracking_number=f"T-{index}")
        await timed("mark_shipped", lambda: fulfillment.mark_shipped(ship))
        await timed("commit", lambda: inventory.commit(Reservations(reservation_ids=reservation_ids)))
        shipped = RecordStatus(order_id=order_id, status=OrderStatus.SHIPPED, at=datetime.now(UTC))
        await timed("record_status Shipped", lambda: ordering.record_status(shipped))

    for index in range(warmup):
        await lifecycle(index, Timer())
    pg_before = _tree_cpu(postmaster)
    for index in range(rounds):
        await lifecycle(warmup + index, timer)
    pg_ms = 1000 * (_tree_cpu(postmaster) - pg_before) / rounds
    await engine.dispose()

    print(f"CPU µs per call of each lifecycle step (this process), mean of {rounds} lifecycles")
    for step in STEPS:
        print(f"  {step:<22} {timer.ns[step] / rounds / 1000:8.0f}")
    print(f"  {'all steps':<22} {sum(timer.ns.values()) / rounds / 1000:8.0f}")
    print(f"PostgreSQL CPU per lifecycle (these steps and the untimed row creation): {pg_ms:.2f} ms")


async def main(rounds: int, warmup: int) -> None:
    with tempfile.TemporaryDirectory(prefix="orderflow-activity-cost-") as tmp:
        pg = await asyncio.to_thread(postgres.start, Path(tmp) / "postgres", keep_data=False)
        try:
            await postgres.create_database(pg.dsn(), DATABASE)
            await asyncio.to_thread(migrate.upgrade, pg.url(DATABASE))
            postmaster = int((Path(pg.server.pgdata) / "postmaster.pid").read_text().split()[0])
            await measure(pg.url(DATABASE), postmaster, rounds, warmup)
        finally:
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="measured lifecycles")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured lifecycles first")
    args = parser.parse_args()
    if args.rounds < 1 or args.warmup < 0:
        sys.exit("--rounds must be at least 1, --warmup not negative")
    asyncio.run(main(args.rounds, args.warmup))
