"""The inventory's decisions without a database: which row gives how much, what settling and receiving do."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from services.errors import DomainError
from services.inventory.allocation import (
    Balance,
    HeldReservation,
    Place,
    Placement,
    ReservationRequest,
    StockRow,
    choose_row,
    place_all,
    receive_into,
    settle_all,
)
from services.inventory.schemas import ReservationStatus, StockReservationDto
from services.validation import INT64_MAX


def row(on_hand: int, reserved: int = 0, *, active: bool = True, sku: str = "SKU") -> StockRow:
    return StockRow(uuid4(), sku, Place(uuid4(), uuid4()), on_hand, reserved, active)


def request(
    quantity: int, *, sku: str = "SKU", key: str | None = None, place: Place | None = None
) -> ReservationRequest:
    return ReservationRequest(sku=sku, quantity=quantity, reference=None, idempotency_key=key, place=place)


def code(check: object) -> str:
    assert callable(check)
    with pytest.raises(DomainError) as refused:
        check()
    return refused.value.code


def test_allocation_takes_the_first_row_that_holds_it_all_and_never_splits() -> None:
    small, inactive, large, later = row(3), row(10, active=False), row(8, 2), row(50)
    assert choose_row(request(3), [small, inactive, large, later]) is small
    assert choose_row(request(6), [small, inactive, large, later]) is large
    assert choose_row(request(7), [small, inactive, large, later]) is later
    assert code(lambda: choose_row(request(51), [small, inactive, large, later])) == "insufficient_stock"
    assert code(lambda: choose_row(request(1), [])) == "stock_item_not_found"


def test_an_explicit_place_gets_exactly_that_row() -> None:
    first, second = row(5), row(5, active=False)
    assert choose_row(request(5, place=second.place), [first, second]) is second
    assert code(lambda: choose_row(request(6, place=second.place), [first, second])) == "insufficient_stock"
    elsewhere = Place(uuid4(), uuid4())
    assert code(lambda: choose_row(request(1, place=elsewhere), [first, second])) == "stock_item_not_found"


def test_lines_see_the_lines_before_them() -> None:
    first, second = row(5), row(5)
    outcomes = place_all([request(3), request(3), request(2)], {"SKU": [first, second]}, {})
    assert [o.row for o in outcomes if isinstance(o, Placement)] == [first, second, first]
    assert (first.reserved, second.reserved) == (5, 3)
    assert code(lambda: place_all([request(3)], {"SKU": [first, second]}, {})) == "insufficient_stock"


def test_a_known_or_repeated_key_gets_its_reservation_and_places_nothing() -> None:
    stock = row(10)
    known = StockReservationDto(
        id=uuid4(),
        sku="SKU",
        warehouse_id=stock.place.warehouse_id,
        location_id=stock.place.location_id,
        quantity=4,
        status=ReservationStatus.RELEASED,
        reference=None,
        created_at=datetime.now(UTC),
        released_at=datetime.now(UTC),
        committed_at=None,
    )
    outcomes = place_all(
        [request(4, key="old"), request(2, key="new"), request(2, key="new")], {"SKU": [stock]}, {"old": known}
    )
    assert outcomes[0] is known
    assert isinstance(outcomes[1], Placement) and outcomes[2] is outcomes[1]
    assert stock.reserved == 2


def test_a_key_is_adopted_only_for_the_same_sku_and_quantity() -> None:
    stock, other = row(10), row(10, sku="OTHER")
    known = StockReservationDto(
        id=uuid4(),
        sku="SKU",
        warehouse_id=stock.place.warehouse_id,
        location_id=stock.place.location_id,
        quantity=4,
        status=ReservationStatus.ACTIVE,
        reference=None,
        created_at=datetime.now(UTC),
        released_at=None,
        committed_at=None,
    )
    rows = {"SKU": [stock], "OTHER": [other]}
    assert code(lambda: place_all([request(5, key="old")], rows, {"old": known})) == "idempotency_key_reused"
    assert (
        code(lambda: place_all([request(4, sku="OTHER", key="old")], rows, {"old": known})) == "idempotency_key_reused"
    )
    assert code(lambda: place_all([request(2, key="k"), request(3, key="k")], rows, {})) == "idempotency_key_reused"


def held(quantity: int, status: str = ReservationStatus.ACTIVE, item: UUID | None = None) -> HeldReservation:
    return HeldReservation(uuid4(), item or uuid4(), "SKU", quantity, status)


def test_release_frees_and_commit_takes_off_hand() -> None:
    item = uuid4()
    a, b = held(2, item=item), held(3, item=item)
    balances = {item: Balance(10, 5)}
    assert settle_all([a.id], {a.id: a, b.id: b}, balances, ReservationStatus.RELEASED) == [a]
    assert balances[item] == Balance(10, 3)
    assert settle_all([b.id, b.id], {a.id: a, b.id: b}, balances, ReservationStatus.COMMITTED) == [b]
    assert balances[item] == Balance(7, 0)


def test_settling_again_changes_nothing_and_the_other_way_is_refused() -> None:
    done = held(2, ReservationStatus.RELEASED)
    assert settle_all([done.id], {done.id: done}, {}, ReservationStatus.RELEASED) == []
    assert code(lambda: settle_all([done.id], {done.id: done}, {}, ReservationStatus.COMMITTED)) == (
        "reservation_not_active"
    )
    assert code(lambda: settle_all([uuid4()], {}, {}, ReservationStatus.RELEASED)) == "reservation_not_found"


def test_settling_refuses_a_row_that_cannot_hold_the_reservation() -> None:
    item = uuid4()
    reservation = held(4, item=item)
    reservations = {reservation.id: reservation}
    assert code(lambda: settle_all([reservation.id], reservations, {}, ReservationStatus.RELEASED)) == (
        "stock_item_not_found"
    )
    assert (
        code(lambda: settle_all([reservation.id], reservations, {item: Balance(10, 3)}, ReservationStatus.RELEASED))
        == "reservation_state_invalid"
    )
    assert (
        code(lambda: settle_all([reservation.id], reservations, {item: Balance(3, 4)}, ReservationStatus.COMMITTED))
        == "insufficient_on_hand_stock"
    )


def test_a_receipt_adds_on_hand_up_to_int64() -> None:
    assert receive_into(Balance(5, 2), 3, "SKU") == Balance(8, 2)
    assert receive_into(Balance(0, 0), INT64_MAX, "SKU") == Balance(INT64_MAX, 0)
    assert code(lambda: receive_into(Balance(1, 0), INT64_MAX, "SKU")) == "receipt_quantity_invalid"
