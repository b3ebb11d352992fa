"""The inventory store against real PostgreSQL: arithmetic, allocation, idempotency, concurrency."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.errors import DomainError
from services.inventory import demo
from services.inventory.models import (
    SCHEMA,
    Base,
    StockItem,
    StockMovement,
    StockReservation,
    StorageLocation,
    Warehouse,
)
from services.inventory.schemas import AllocationLine, ReservationStatus, StockReservationDto
from services.inventory.store import InventoryStore
from services.paging import PageRequest
from services.validation import INT64_MAX
from tests.stores import in_transaction, refused_in_transaction
from tooling.stock_invariants import assert_stock_invariants

T = TypeVar("T")
Maker = async_sessionmaker[AsyncSession]


async def run(sessionmaker: Maker, action: Callable[[InventoryStore], Awaitable[T]]) -> T:
    """One unit of work, as the API and the activities use the store."""
    return await in_transaction(sessionmaker, InventoryStore, action)


async def refusal(sessionmaker: Maker, action: Callable[[InventoryStore], Awaitable[object]]) -> str:
    """The error code of a refused unit of work (its transaction rolls back)."""
    return (await refused_in_transaction(sessionmaker, InventoryStore, action)).code


async def check_invariants(sessionmaker: Maker) -> None:
    async with sessionmaker() as session:
        await assert_stock_invariants(session)


@dataclass(frozen=True)
class Snapshot:
    """Everything a repeated command could change."""

    rows: list[tuple[str, UUID, int, int]]
    reservations: list[tuple[UUID, str]]
    movements: int
    warehouses: int
    locations: int


async def snapshot(sessionmaker: Maker) -> Snapshot:
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(StockItem.sku, StockItem.location_id, StockItem.on_hand, StockItem.reserved).order_by(
                    StockItem.sku, StockItem.location_id
                )
            )
        ).all()
        reservations = (
            await session.execute(select(StockReservation.id, StockReservation.status).order_by(StockReservation.id))
        ).all()
        return Snapshot(
            rows=[(sku, location, on_hand, reserved) for sku, location, on_hand, reserved in rows],
            reservations=[(rid, status) for rid, status in reservations],
            movements=await session.scalar(select(func.count()).select_from(StockMovement)) or 0,
            warehouses=await session.scalar(select(func.count()).select_from(Warehouse)) or 0,
            locations=await session.scalar(select(func.count()).select_from(StorageLocation)) or 0,
        )


@dataclass(frozen=True)
class Place:
    warehouse_id: UUID
    location_id: UUID


async def place(sessionmaker: Maker, warehouse: str, location: str) -> Place:
    """A (warehouse, location), creating the warehouse when it is new."""

    async def create(store: InventoryStore) -> Place:
        existing = [w for w in (await store.list_warehouses()).items if w.code == warehouse]
        warehouse_id = existing[0].id if existing else (await store.create_warehouse(warehouse, warehouse)).id
        return Place(warehouse_id, (await store.create_location(warehouse_id, location)).id)

    return await run(sessionmaker, create)


async def stocked(sessionmaker: Maker, sku: str, quantity: int, where: Place | None = None) -> Place:
    where = where or await place(sessionmaker, "MAIN", "A-01")
    await run(sessionmaker, lambda s: s.receive(sku, where.warehouse_id, where.location_id, quantity, "test"))
    return where


# --- schema ---------------------------------------------------------------------------------------------


async def test_migration_builds_exactly_the_tables_the_models_declare(sessionmaker: Maker) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "schema" or name == SCHEMA,
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async with sessionmaker() as session:
        connection = await session.connection()
        assert await connection.run_sync(diff) == []


async def test_database_refuses_broken_stock_arithmetic_by_itself(sessionmaker: Maker) -> None:
    where = await stocked(sessionmaker, "SKU-1", 5)
    for values in ({"on_hand": -1, "reserved": 0}, {"reserved": -1}, {"reserved": 6}):
        with pytest.raises(IntegrityError, match="ck_stock_items"):
            async with sessionmaker.begin() as session:
                await session.execute(update(StockItem).values(**values))
    assert (await snapshot(sessionmaker)).rows == [("SKU-1", where.location_id, 5, 0)]


# --- warehouses and locations ---------------------------------------------------------------------------


async def test_warehouse_and_location_codes_are_normalised_and_unique(sessionmaker: Maker) -> None:
    warehouse = await run(sessionmaker, lambda s: s.create_warehouse("  main ", " Main warehouse "))
    assert (warehouse.code, warehouse.name, warehouse.is_active) == ("MAIN", "Main warehouse", True)
    location = await run(sessionmaker, lambda s: s.create_location(warehouse.id, " a-01 "))
    assert (location.code, location.warehouse_id) == ("A-01", warehouse.id)
    other = await run(sessionmaker, lambda s: s.create_warehouse("SECOND", "Second"))
    # a location code is unique within its warehouse only
    await run(sessionmaker, lambda s: s.create_location(other.id, "A-01"))

    before = await snapshot(sessionmaker)
    assert await refusal(sessionmaker, lambda s: s.create_warehouse("Main", "x")) == ("warehouse_code_already_exists")
    assert await refusal(sessionmaker, lambda s: s.create_location(warehouse.id, "A-01")) == (
        "location_code_already_exists"
    )
    assert await snapshot(sessionmaker) == before
    assert [w.code for w in (await run(sessionmaker, lambda s: s.list_warehouses())).items] == ["MAIN", "SECOND"]
    assert len((await run(sessionmaker, lambda s: s.list_locations(other.id))).items) == 1
    assert len((await run(sessionmaker, lambda s: s.list_locations())).items) == 2


async def test_concurrent_creates_of_one_code_make_one_warehouse(sessionmaker: Maker) -> None:
    outcomes = await asyncio.gather(
        *(run(sessionmaker, lambda s: s.create_warehouse("RACE", "Race")) for _ in range(8)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(outcomes) - len(refused) == 1
    assert all(isinstance(e, DomainError) and e.code == "warehouse_code_already_exists" for e in refused)


async def test_location_needs_an_active_warehouse(sessionmaker: Maker) -> None:
    assert await refusal(sessionmaker, lambda s: s.create_location(uuid4(), "A-01")) == "warehouse_not_found"
    warehouse = await run(sessionmaker, lambda s: s.create_warehouse("OLD", "Old"))
    async with sessionmaker.begin() as session:
        await session.execute(update(Warehouse).values(is_active=False))
    assert await refusal(sessionmaker, lambda s: s.create_location(warehouse.id, "A-01")) == "warehouse_inactive"


# --- receipts and reads ---------------------------------------------------------------------------------


async def test_receipts_add_to_one_row_and_write_the_ledger(sessionmaker: Maker) -> None:
    where = await place(sessionmaker, "MAIN", "A-01")
    first = await run(sessionmaker, lambda s: s.receive(" sku-1 ", where.warehouse_id, where.location_id, 7, None))
    second = await run(
        sessionmaker, lambda s: s.receive("SKU-1", where.warehouse_id, where.location_id, 3, " restock ")
    )
    assert (first.sku, first.received_quantity, first.on_hand_quantity) == ("SKU-1", 7, 7)
    assert (second.received_quantity, second.on_hand_quantity, second.available_quantity) == (3, 10, 10)

    summary = await run(sessionmaker, lambda s: s.get_stock("sku-1"))
    assert summary is not None
    assert (summary.total_on_hand_quantity, summary.total_reserved_quantity) == (10, 0)
    assert len(summary.locations) == 1
    movements = (await run(sessionmaker, lambda s: s.list_movements("Sku-1"))).items
    assert [(m.type, m.quantity, m.reason) for m in movements] == [("Receipt", 3, "restock"), ("Receipt", 7, None)]
    assert await run(sessionmaker, lambda s: s.get_stock("OTHER")) is None
    await check_invariants(sessionmaker)


async def test_concurrent_first_receipts_of_a_row_all_count(sessionmaker: Maker) -> None:
    where = await place(sessionmaker, "MAIN", "A-01")
    await asyncio.gather(
        *(
            run(sessionmaker, lambda s: s.receive("NEW", where.warehouse_id, where.location_id, 2, None))
            for _ in range(12)
        )
    )
    assert (await snapshot(sessionmaker)).rows == [("NEW", where.location_id, 24, 0)]
    await check_invariants(sessionmaker)


async def test_receipt_checks_run_in_contract_order(sessionmaker: Maker) -> None:
    main = await place(sessionmaker, "MAIN", "A-01")
    other = await place(sessionmaker, "OTHER", "B-01")
    w, loc = main.warehouse_id, main.location_id
    cases: list[tuple[Callable[[InventoryStore], Awaitable[object]], str]] = [
        (lambda s: s.receive(" ", uuid4(), uuid4(), 0, None), "sku_required"),
        (lambda s: s.receive("X" * 101, w, loc, 1, None), "sku_too_long"),
        (lambda s: s.receive("SKU", uuid4(), uuid4(), 0, None), "receipt_quantity_invalid"),
        (lambda s: s.receive("SKU", w, loc, INT64_MAX + 1, None), "receipt_quantity_invalid"),
        (lambda s: s.receive("SKU", w, loc, 1, "r" * 1001), "reason_too_long"),
        (lambda s: s.receive("SKU", uuid4(), uuid4(), 1, None), "warehouse_not_found"),
        (lambda s: s.receive("SKU", w, uuid4(), 1, None), "location_not_found"),
        (lambda s: s.receive("SKU", w, other.location_id, 1, None), "location_warehouse_mismatch"),
    ]
    for action, code in cases:
        assert await refusal(sessionmaker, action) == code
    await run(sessionmaker, lambda s: s.receive("SKU", w, loc, INT64_MAX, None))
    assert await refusal(sessionmaker, lambda s: s.receive("SKU", w, loc, 1, None)) == "receipt_quantity_invalid"


async def test_movements_are_newest_first_and_paged(sessionmaker: Maker) -> None:
    where = await stocked(sessionmaker, "A", 1)
    for quantity in range(2, 6):
        await stocked(sessionmaker, "B" if quantity % 2 else "A", quantity, where)
    everything = (await run(sessionmaker, lambda s: s.list_movements())).items
    assert [m.quantity for m in everything] == [5, 4, 3, 2, 1]
    assert all(m.warehouse_code == "MAIN" and m.location_code == "A-01" for m in everything)
    first = await run(sessionmaker, lambda s: s.list_movements("a", PageRequest(limit=1)))
    assert [m.quantity for m in first.items] == [4]
    rest = await run(sessionmaker, lambda s: s.list_movements("a", PageRequest(limit=2, cursor=first.next_cursor)))
    assert ([m.quantity for m in rest.items], rest.next_cursor) == ([2, 1], None)
    assert len((await run(sessionmaker, lambda s: s.list_movements(" ", PageRequest(limit=500)))).items) == 5
    assert (await run(sessionmaker, lambda s: s.list_movements("X" * 500))).items == []


# --- allocation -----------------------------------------------------------------------------------------


async def test_allocation_takes_the_first_row_that_holds_it_all_and_never_splits(sessionmaker: Maker) -> None:
    b_a01 = await stocked(sessionmaker, "SKU", 10, await place(sessionmaker, "B", "A-01"))
    a_z01 = await stocked(sessionmaker, "SKU", 3, await place(sessionmaker, "A", "Z-01"))
    a_b01 = await stocked(sessionmaker, "SKU", 5, await place(sessionmaker, "A", "B-01"))

    first = await run(sessionmaker, lambda s: s.allocate("sku", 4, " ORDER-1 "))
    assert (first.location_id, first.quantity, first.status, first.reference) == (
        a_b01.location_id,
        4,
        ReservationStatus.ACTIVE,
        "ORDER-1",
    )
    # A/B-01 has 1 left, so A/Z-01 (3) is next in code order
    second = await run(sessionmaker, lambda s: s.allocate("SKU", 3, None))
    assert second.location_id == a_z01.location_id
    third = await run(sessionmaker, lambda s: s.allocate("SKU", 2, None))
    assert third.location_id == b_a01.location_id
    # 1 + 0 + 8 = 9 available in total, but no single row has 9
    assert await refusal(sessionmaker, lambda s: s.allocate("SKU", 9, None)) == "insufficient_stock"
    assert await refusal(sessionmaker, lambda s: s.allocate("NOPE", 1, None)) == "stock_item_not_found"

    summary = await run(sessionmaker, lambda s: s.get_stock("SKU"))
    assert summary is not None
    assert (summary.total_on_hand_quantity, summary.total_reserved_quantity) == (18, 9)
    assert [(r.warehouse_code, r.location_code, r.available_quantity) for r in summary.locations] == [
        ("A", "B-01", 1),
        ("A", "Z-01", 0),
        ("B", "A-01", 8),
    ]
    await check_invariants(sessionmaker)


async def test_allocation_skips_inactive_locations(sessionmaker: Maker) -> None:
    first = await stocked(sessionmaker, "SKU", 5, await place(sessionmaker, "A", "A-01"))
    second = await stocked(sessionmaker, "SKU", 5, await place(sessionmaker, "B", "A-01"))
    async with sessionmaker.begin() as session:
        await session.execute(
            update(StorageLocation).where(StorageLocation.id == first.location_id).values(is_active=False)
        )
    assert (await run(sessionmaker, lambda s: s.allocate("SKU", 1, None))).location_id == second.location_id


async def test_allocation_refuses_bad_input_before_looking_at_stock(sessionmaker: Maker) -> None:
    cases: list[tuple[Callable[[InventoryStore], Awaitable[object]], str]] = [
        (lambda s: s.allocate(None, 0, None), "sku_required"),
        (lambda s: s.allocate("SKU", 0, None), "reservation_quantity_invalid"),
        (lambda s: s.allocate("SKU", -3, None), "reservation_quantity_invalid"),
        (lambda s: s.allocate("SKU", INT64_MAX + 1, None), "reservation_quantity_invalid"),
        (lambda s: s.allocate("SKU", 1, "r" * 201), "reference_too_long"),
        (lambda s: s.allocate("SKU", 1, None, "k" * 201), "idempotency_key_too_long"),
        (lambda s: s.allocate("SKU", 1, None), "stock_item_not_found"),
    ]
    for action, code in cases:
        assert await refusal(sessionmaker, action) == code


async def test_explicit_reservation_uses_exactly_the_given_row(sessionmaker: Maker) -> None:
    where = await stocked(sessionmaker, "SKU", 5)
    reservation = await run(sessionmaker, lambda s: s.reserve("sku", where.warehouse_id, where.location_id, 5, "HOLD"))
    assert (reservation.quantity, reservation.location_id, reservation.reference) == (5, where.location_id, "HOLD")
    assert (
        await refusal(sessionmaker, lambda s: s.reserve("SKU", where.warehouse_id, where.location_id, 1, None))
        == "insufficient_stock"
    )
    assert (
        await refusal(sessionmaker, lambda s: s.reserve("SKU", where.warehouse_id, uuid4(), 1, None))
        == "stock_item_not_found"
    )
    await check_invariants(sessionmaker)


async def test_fifty_concurrent_allocations_of_ten_units_give_exactly_ten(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "HOT", 10)
    outcomes = await asyncio.gather(
        *(run(sessionmaker, lambda s: s.allocate("HOT", 1, "race")) for _ in range(60)),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, StockReservationDto)]
    lost = [o for o in outcomes if not isinstance(o, StockReservationDto)]
    assert len(won) == 10
    assert len({r.id for r in won}) == 10
    assert all(isinstance(e, DomainError) and e.code == "insufficient_stock" for e in lost), lost
    summary = await run(sessionmaker, lambda s: s.get_stock("HOT"))
    assert summary is not None
    assert (summary.total_on_hand_quantity, summary.total_reserved_quantity) == (10, 10)
    await check_invariants(sessionmaker)


async def test_crossing_multi_line_allocations_and_releases_never_deadlock(sessionmaker: Maker) -> None:
    where = await stocked(sessionmaker, "A", 100)
    await stocked(sessionmaker, "B", 100, where)

    def lines(*skus: str) -> list[AllocationLine]:
        return [AllocationLine(sku=sku, quantity=1) for sku in skus]

    batches = await asyncio.gather(
        *(
            run(sessionmaker, partial(InventoryStore.allocate_many, lines=lines(*("AB" if i % 2 else "BA"))))
            for i in range(20)
        )
    )
    ids = [[r.id for r in batch] for batch in batches]
    await asyncio.gather(
        *(
            run(
                sessionmaker,
                partial(
                    InventoryStore.release_many if i % 2 else InventoryStore.commit_many, reservation_ids=pair[::-1]
                ),
            )
            for i, pair in enumerate(ids)
        )
    )
    await check_invariants(sessionmaker)


# --- idempotency ----------------------------------------------------------------------------------------


async def test_allocation_with_a_known_key_returns_that_reservation_and_writes_nothing(
    sessionmaker: Maker,
) -> None:
    await stocked(sessionmaker, "SKU", 5)
    first = await run(sessionmaker, lambda s: s.allocate("SKU", 2, "ORDER-1", "order-1:line-1"))
    before = await snapshot(sessionmaker)
    again = await run(sessionmaker, lambda s: s.allocate("SKU", 2, "ORDER-1", "order-1:line-1"))
    assert again == first
    assert await snapshot(sessionmaker) == before

    # whatever its status: a released reservation is returned released, and nothing is reserved again
    await run(sessionmaker, lambda s: s.release(first.id))
    before = await snapshot(sessionmaker)
    after_release = await run(sessionmaker, lambda s: s.allocate("SKU", 2, "ORDER-1", "order-1:line-1"))
    assert (after_release.id, after_release.status) == (first.id, ReservationStatus.RELEASED)
    assert await snapshot(sessionmaker) == before
    # even when the stock it would need is gone
    await run(sessionmaker, lambda s: s.allocate("SKU", 5, None))
    assert (await run(sessionmaker, lambda s: s.allocate("SKU", 2, None, "order-1:line-1"))).id == first.id
    await check_invariants(sessionmaker)


async def test_concurrent_allocations_with_one_key_make_one_reservation(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "SKU", 100)
    outcomes = await asyncio.gather(
        *(run(sessionmaker, lambda s: s.allocate("SKU", 3, "ORDER-9", "same-key")) for _ in range(20))
    )
    assert len({o.id for o in outcomes}) == 1
    state = await snapshot(sessionmaker)
    assert state.rows[0][2:] == (100, 3)
    assert state.movements == 2  # the receipt and one reservation
    await check_invariants(sessionmaker)


async def test_reserve_with_a_known_key_returns_that_reservation(sessionmaker: Maker) -> None:
    where = await stocked(sessionmaker, "SKU", 5)
    first = await run(sessionmaker, lambda s: s.reserve("SKU", where.warehouse_id, where.location_id, 5, None, "k"))
    before = await snapshot(sessionmaker)
    again = await run(sessionmaker, lambda s: s.reserve("SKU", where.warehouse_id, where.location_id, 5, None, "k"))
    assert again == first
    assert await snapshot(sessionmaker) == before


async def test_allocate_many_is_all_or_nothing(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "A", 5)
    await stocked(sessionmaker, "B", 1, (await place(sessionmaker, "MAIN", "A-02")))
    before = await snapshot(sessionmaker)
    bad_batches: list[tuple[list[AllocationLine], str]] = [
        ([AllocationLine(sku="A", quantity=2), AllocationLine(sku="B", quantity=2)], "insufficient_stock"),
        ([AllocationLine(sku="A", quantity=2), AllocationLine(sku="C", quantity=1)], "stock_item_not_found"),
        # the first failing line decides, even when a later line is malformed
        ([AllocationLine(sku="B", quantity=9), AllocationLine(sku="", quantity=1)], "insufficient_stock"),
        ([AllocationLine(sku="A", quantity=1), AllocationLine(sku="A", quantity=0)], "reservation_quantity_invalid"),
        ([AllocationLine(sku="A", quantity=3), AllocationLine(sku="A", quantity=3)], "insufficient_stock"),
    ]
    for lines, code in bad_batches:
        assert await refusal(sessionmaker, partial(InventoryStore.allocate_many, lines=lines)) == code
        assert await snapshot(sessionmaker) == before

    # nothing stays reserved even if the caller catches the refusal and commits its transaction
    async with sessionmaker.begin() as session:
        with pytest.raises(DomainError):
            await InventoryStore(session).allocate_many(bad_batches[0][0])
    assert await snapshot(sessionmaker) == before

    done = await run(
        sessionmaker,
        lambda s: s.allocate_many([AllocationLine(sku="a", quantity=3), AllocationLine(sku="b", quantity=1)]),
    )
    assert [(r.sku, r.quantity) for r in done] == [("A", 3), ("B", 1)]
    assert await run(sessionmaker, lambda s: s.allocate_many([])) == []
    await check_invariants(sessionmaker)


async def test_allocate_many_returns_known_keys_as_they_are(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "A", 5)
    lines = [
        AllocationLine(sku="A", quantity=2, reference="ORDER-1", idempotency_key="o1:1"),
        AllocationLine(sku="A", quantity=3, reference="ORDER-1", idempotency_key="o1:2"),
    ]
    first = await run(sessionmaker, lambda s: s.allocate_many(lines))
    before = await snapshot(sessionmaker)
    again = await run(sessionmaker, lambda s: s.allocate_many(lines))
    assert again == first
    assert await snapshot(sessionmaker) == before
    # a retry after a partial failure: the known line is returned, only the new one is refused
    assert (
        await refusal(
            sessionmaker,
            lambda s: s.allocate_many([lines[0], AllocationLine(sku="A", quantity=1, idempotency_key="o1:3")]),
        )
        == "insufficient_stock"
    )
    assert await snapshot(sessionmaker) == before
    await check_invariants(sessionmaker)


async def test_allocate_many_mixes_known_new_and_repeated_keys(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "A", 10)
    await stocked(sessionmaker, "B", 10, await place(sessionmaker, "MAIN", "A-02"))
    known = await run(sessionmaker, lambda s: s.allocate("A", 2, "O-1", "o:1"))
    before = await snapshot(sessionmaker)
    lines = [
        AllocationLine(sku="B", quantity=1, reference="O-1", idempotency_key="o:2"),
        # a known key gets its reservation as it is (the same SKU and quantity; another request is refused)
        AllocationLine(sku="A", quantity=2, reference="other", idempotency_key="o:1"),
        AllocationLine(sku="A", quantity=3, reference="O-1"),
        # a key repeated within the call gets the reservation of its first line
        AllocationLine(sku="B", quantity=1, reference="O-1", idempotency_key="o:2"),
    ]
    done = await run(sessionmaker, lambda s: s.allocate_many(lines))
    assert done[1] == known
    assert done[3] == done[0]
    assert [(r.sku, r.quantity) for r in done] == [("B", 1), ("A", 2), ("A", 3), ("B", 1)]
    after = await snapshot(sessionmaker)
    assert len(after.reservations) == len(before.reservations) + 2
    assert after.movements == before.movements + 2
    assert [row[2:] for row in after.rows] == [(10, 5), (10, 1)]

    # the keyed lines again: the same reservations, and nothing written
    assert await run(sessionmaker, lambda s: s.allocate_many([lines[0], lines[1]])) == done[:2]
    assert await snapshot(sessionmaker) == after
    # a known key asked for another quantity or SKU: refused, and nothing written
    for reused in (
        [AllocationLine(sku="A", quantity=9, idempotency_key="o:1")],
        [AllocationLine(sku="B", quantity=2, idempotency_key="o:1")],
    ):
        assert (
            await refusal(sessionmaker, partial(InventoryStore.allocate_many, lines=reused)) == "idempotency_key_reused"
        )
    assert await snapshot(sessionmaker) == after
    await check_invariants(sessionmaker)


async def test_allocate_many_lines_of_one_sku_see_each_other(sessionmaker: Maker) -> None:
    first = await stocked(sessionmaker, "SKU", 5, await place(sessionmaker, "A", "A-01"))
    second = await stocked(sessionmaker, "SKU", 5, await place(sessionmaker, "B", "A-01"))
    # 4 + 4 units fit in the SKU's 10, but on no single row: the second line goes to the next row
    done = await run(
        sessionmaker,
        lambda s: s.allocate_many([AllocationLine(sku="SKU", quantity=4), AllocationLine(sku="sku", quantity=4)]),
    )
    assert [r.location_id for r in done] == [first.location_id, second.location_id]
    after = await snapshot(sessionmaker)
    assert [row[2:] for row in after.rows] == [(5, 4), (5, 4)]

    # one unit is left on each row: a third line finds none, and the call reserves nothing
    ones = [AllocationLine(sku="SKU", quantity=1) for _ in range(3)]
    assert await refusal(sessionmaker, lambda s: s.allocate_many(ones)) == "insufficient_stock"
    assert await snapshot(sessionmaker) == after
    await check_invariants(sessionmaker)


async def test_allocate_many_places_a_fifty_line_order_line_by_line(sessionmaker: Maker) -> None:
    near = await place(sessionmaker, "MAIN", "A-01")
    far = await place(sessionmaker, "MAIN", "A-02")
    skus = [f"SKU-{n}" for n in range(10)]
    for sku in skus:
        await stocked(sessionmaker, sku, 10, near)
        await stocked(sessionmaker, sku, 10, far)
    before = await snapshot(sessionmaker)
    # five lines of 3 per SKU: three fit on A-01 (1 unit left), the next two go to A-02
    lines = [
        AllocationLine(sku=skus[i % 10], quantity=3, reference="ORDER-50", idempotency_key=f"order-50:{i}")
        for i in range(50)
    ]
    done = await run(sessionmaker, lambda s: s.allocate_many(lines))
    assert [(r.sku, r.quantity, r.status) for r in done] == [(line.sku, 3, ReservationStatus.ACTIVE) for line in lines]
    assert [r.location_id for r in done] == [near.location_id if i < 30 else far.location_id for i in range(50)]
    assert len({r.id for r in done}) == 50
    after = await snapshot(sessionmaker)
    assert len(after.reservations) == 50
    assert after.movements == before.movements + 50
    assert {row[2:] for row in after.rows} == {(10, 9), (10, 6)}
    movements = (await run(sessionmaker, lambda s: s.list_movements(None, PageRequest(limit=500)))).items
    reserved = [m for m in movements if m.type == "Reservation"]
    assert sorted((m.sku, m.quantity, m.reason) for m in reserved) == sorted((r.sku, 3, "ORDER-50") for r in done)

    assert await run(sessionmaker, lambda s: s.allocate_many(lines)) == done
    assert await snapshot(sessionmaker) == after
    await check_invariants(sessionmaker)


async def test_concurrent_multi_line_allocations_with_shared_keys_make_one_reservation_per_key(
    sessionmaker: Maker,
) -> None:
    where = await stocked(sessionmaker, "A", 100)
    await stocked(sessionmaker, "B", 100, where)
    lines = [AllocationLine(sku="AB"[i % 2], quantity=1, idempotency_key=f"shared:{i}") for i in range(6)]
    orders = [lines[i:] + lines[:i] for i in range(6)] + [list(reversed(lines[i:] + lines[:i])) for i in range(6)]
    batches = await asyncio.gather(
        *(run(sessionmaker, partial(InventoryStore.allocate_many, lines=order)) for order in orders)
    )
    by_key = {
        line.idempotency_key: reservation.id
        for order, batch in zip(orders, batches, strict=True)
        for line, reservation in zip(order, batch, strict=True)
    }
    assert len(set(by_key.values())) == 6
    for order, batch in zip(orders, batches, strict=True):
        assert [r.id for r in batch] == [by_key[line.idempotency_key] for line in order]
    state = await snapshot(sessionmaker)
    assert len(state.reservations) == 6
    assert state.movements == 2 + 6
    assert [row[2:] for row in state.rows] == [(100, 3), (100, 3)]
    await check_invariants(sessionmaker)


async def test_one_unit_of_work_sees_its_own_reservations(sessionmaker: Maker) -> None:
    where = await place(sessionmaker, "MAIN", "A-01")
    async with sessionmaker.begin() as session:
        store = InventoryStore(session)
        await store.receive("SKU", where.warehouse_id, where.location_id, 5, None)
        # an object of the stock row, held in the session: it must not go stale under the store's writes
        item = (await session.scalars(select(StockItem))).one()
        first, second = await store.allocate_many(
            [AllocationLine(sku="SKU", quantity=2), AllocationLine(sku="SKU", quantity=1)]
        )
        summary = await store.get_stock("SKU")
        assert summary is not None
        assert (summary.total_on_hand_quantity, summary.total_reserved_quantity) == (5, 3)
        assert (item.on_hand, item.reserved) == (5, 3)
        await store.commit_many([first.id])
        await store.release(second.id)
        summary = await store.get_stock("SKU")
        assert summary is not None
        assert (summary.total_on_hand_quantity, summary.total_reserved_quantity) == (3, 0)
        assert (item.on_hand, item.reserved) == (3, 0)
        assert [r.status for r in await store.release_many([second.id])] == [ReservationStatus.RELEASED]
        assert (await store.get_reservation(first.id)) == (await store.commit(first.id))
    await check_invariants(sessionmaker)


@pytest.mark.parametrize(
    ("first", "second", "outcome"),
    [
        ("release", "release", ReservationStatus.RELEASED),
        ("commit", "commit", ReservationStatus.COMMITTED),
        ("release", "commit", "reservation_not_active"),
        ("commit", "release", "reservation_not_active"),
    ],
)
async def test_reservation_state_machine(sessionmaker: Maker, first: str, second: str, outcome: str) -> None:
    await stocked(sessionmaker, "SKU", 5)
    reservation = await run(sessionmaker, lambda s: s.allocate("SKU", 2, "ORDER-1"))
    done = await run(sessionmaker, lambda s: getattr(s, first)(reservation.id))
    before = await snapshot(sessionmaker)
    if isinstance(outcome, ReservationStatus):
        repeated = await run(sessionmaker, lambda s: getattr(s, second)(reservation.id))
        assert repeated == done
        assert repeated.status == outcome
    else:
        assert await refusal(sessionmaker, lambda s: getattr(s, second)(reservation.id)) == outcome
    assert await snapshot(sessionmaker) == before
    expected = (5, 0) if first == "release" else (3, 0)
    assert before.rows[0][2:] == expected
    await check_invariants(sessionmaker)


async def test_release_and_commit_set_their_timestamps_and_ledger(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "SKU", 5)
    kept = await run(sessionmaker, lambda s: s.allocate("SKU", 2, "ORDER-1"))
    freed = await run(sessionmaker, lambda s: s.allocate("SKU", 1, "ORDER-2"))
    committed = await run(sessionmaker, lambda s: s.commit(kept.id))
    released = await run(sessionmaker, lambda s: s.release(freed.id))
    assert committed.committed_at is not None and committed.released_at is None
    assert released.released_at is not None and released.committed_at is None
    assert await run(sessionmaker, lambda s: s.get_reservation(kept.id)) == committed
    assert await run(sessionmaker, lambda s: s.get_reservation(uuid4())) is None
    movements = (await run(sessionmaker, lambda s: s.list_movements("SKU"))).items
    assert [(m.type, m.quantity, m.reason) for m in movements] == [
        ("Release", -1, "ORDER-2"),
        ("Shipment", -2, "ORDER-1"),
        ("Reservation", 1, "ORDER-2"),
        ("Reservation", 2, "ORDER-1"),
        ("Receipt", 5, "test"),
    ]


async def test_unknown_reservations_are_refused(sessionmaker: Maker) -> None:
    assert await refusal(sessionmaker, lambda s: s.release(uuid4())) == "reservation_not_found"
    assert await refusal(sessionmaker, lambda s: s.commit(uuid4())) == "reservation_not_found"


@pytest.mark.parametrize("operation", ["release_many", "commit_many"])
async def test_settling_many_is_idempotent_and_all_or_nothing(sessionmaker: Maker, operation: str) -> None:
    await stocked(sessionmaker, "SKU", 10)
    ids = [(await run(sessionmaker, lambda s: s.allocate("SKU", 2, None))).id for _ in range(3)]
    before = await snapshot(sessionmaker)
    assert await refusal(sessionmaker, lambda s: getattr(s, operation)([*ids, uuid4()])) == "reservation_not_found"
    assert await snapshot(sessionmaker) == before

    settled = await run(sessionmaker, lambda s: getattr(s, operation)([*ids, ids[0]]))
    assert [r.id for r in settled] == [*ids, ids[0]]
    after = await snapshot(sessionmaker)
    assert after.movements == before.movements + 3
    assert await run(sessionmaker, lambda s: getattr(s, operation)(ids)) == settled[:3]
    assert await snapshot(sessionmaker) == after
    other = "commit_many" if operation == "release_many" else "release_many"
    assert await refusal(sessionmaker, lambda s: getattr(s, other)(ids[:1])) == "reservation_not_active"
    await check_invariants(sessionmaker)


async def test_concurrent_release_and_commit_of_one_reservation_have_one_winner(sessionmaker: Maker) -> None:
    await stocked(sessionmaker, "SKU", 20)
    for _ in range(5):
        reservation = await run(sessionmaker, lambda s: s.allocate("SKU", 2, None))
        outcomes = await asyncio.gather(
            *(
                run(sessionmaker, partial(settle, reservation_id=reservation.id))
                for settle in (InventoryStore.release, InventoryStore.commit) * 2
            ),
            return_exceptions=True,
        )
        won = {o.status for o in outcomes if isinstance(o, StockReservationDto)}
        lost = [o for o in outcomes if not isinstance(o, StockReservationDto)]
        assert len(won) == 1
        assert len(lost) == 2
        assert all(isinstance(e, DomainError) and e.code == "reservation_not_active" for e in lost)
    await check_invariants(sessionmaker)


# --- demo data ------------------------------------------------------------------------------------------


async def test_demo_stock_is_loaded_once(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        assert await demo.load_demo_data(session) is True
    loaded = await snapshot(sessionmaker)
    async with sessionmaker.begin() as session:
        assert await demo.load_demo_data(session) is False
    assert await snapshot(sessionmaker) == loaded

    assert (loaded.warehouses, loaded.locations, loaded.movements) == (1, 1, len(demo.DEMO_SKUS))
    warehouses = (await run(sessionmaker, lambda s: s.list_warehouses())).items
    assert [(w.code, w.name) for w in warehouses] == [("MAIN", "Main warehouse")]
    for sku in ("ARM-BLK", "WH-BLK", "NOTE-A4"):
        summary = await run(sessionmaker, partial(InventoryStore.get_stock, sku=sku))
        assert summary is not None
        assert summary.total_available_quantity == 100
        assert summary.locations[0].location_code == "A-01"
    await check_invariants(sessionmaker)
