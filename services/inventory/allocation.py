"""The inventory's decisions, as pure functions over rows the store has locked: which stock row gives how much,
whether a reservation may be released or committed, what a receipt does to a balance.

Nothing here touches the database; the store (`store.py`) locks the rows, calls these, and writes what they
decided. A refusal is raised as the inventory's error, before anything is written.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from services.errors import IdempotencyKeyReusedError
from services.inventory.errors import (
    InsufficientStockError,
    InventoryError,
    ReservationNotActiveError,
    ReservationNotFoundError,
    StockItemNotFoundError,
)
from services.inventory.schemas import ReservationStatus, StockReservationDto
from services.validation import INT64_MAX


@dataclass(frozen=True)
class Place:
    """A (warehouse, location) pair: where a stock row is."""

    warehouse_id: UUID
    location_id: UUID


@dataclass(frozen=True)
class ReservationRequest:
    """A validated reservation request: at `place`, or (None) wherever the allocation rule finds the stock."""

    sku: str
    quantity: int
    reference: str | None
    idempotency_key: str | None
    place: Place | None = None


@dataclass
class StockRow:
    """A locked stock row; `reserved` includes what the decision in progress has placed on it."""

    id: UUID
    sku: str
    place: Place
    on_hand: int
    reserved: int
    active: bool  # its warehouse and its location are both active

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(eq=False)
class Placement:
    """A new reservation decided on `row`; `request` says how much and under which key."""

    request: ReservationRequest
    row: StockRow


Outcome = StockReservationDto | Placement
"""Per request: the reservation its key already names (nothing to write), or a new placement."""


def choose_row(request: ReservationRequest, rows: Sequence[StockRow]) -> StockRow:
    """The row a request takes all of its quantity from; never split across rows.

    At an explicit place, that place's row if it has the quantity available. Otherwise the first row, in
    allocation order (warehouse code, location code), that is active and has it all (contract section 3.2).
    """
    if request.place is not None:
        rows = [row for row in rows if row.place == request.place]
    if not rows:
        raise StockItemNotFoundError(request.sku)
    for row in rows:
        if (request.place is not None or row.active) and row.available >= request.quantity:
            return row
    raise InsufficientStockError(request.sku, request.quantity)


def place_all(
    requests: Sequence[ReservationRequest],
    rows_by_sku: Mapping[str, Sequence[StockRow]],
    known: Mapping[str, StockReservationDto],
) -> list[Outcome]:
    """Decide every request in order, each seeing the ones before it; the first refusal is raised.

    A request whose idempotency key names a reservation (`known`, or an earlier request's) gets that
    reservation, if it is the same request (same SKU and quantity); a key reused for another one is refused.
    A placement adds its quantity to its row's `reserved`.
    """
    decided: dict[str, Outcome] = dict(known)
    outcomes: list[Outcome] = []
    for request in requests:
        key = request.idempotency_key
        if key is not None and key in decided:
            outcomes.append(adopt(request, decided[key]))
            continue
        row = choose_row(request, rows_by_sku.get(request.sku, ()))
        row.reserved += request.quantity
        placement = Placement(request, row)
        if key is not None:
            decided[key] = placement
        outcomes.append(placement)
    return outcomes


def adopt(request: ReservationRequest, outcome: Outcome) -> Outcome:
    """The reservation (or placement) a request's key names, if it is for that request's SKU and quantity."""
    sku, quantity = (
        (outcome.request.sku, outcome.request.quantity)
        if isinstance(outcome, Placement)
        else (outcome.sku, outcome.quantity)
    )
    if (sku, quantity) != (request.sku, request.quantity):
        raise IdempotencyKeyReusedError()
    return outcome


@dataclass(frozen=True)
class HeldReservation:
    """The part of a locked reservation a settlement decides on."""

    id: UUID
    stock_item_id: UUID
    sku: str
    quantity: int
    status: str


@dataclass(frozen=True)
class Balance:
    on_hand: int
    reserved: int


def settle_all(
    reservation_ids: Sequence[UUID],
    reservations: Mapping[UUID, HeldReservation],
    balances: dict[UUID, Balance],
    target: ReservationStatus,
) -> list[HeldReservation]:
    """Release or commit reservations in order, the first refusal raised; the ones that change.

    A reservation already at `target` is done and does not change; a repeated id is decided once. Each change
    is applied to `balances` (by stock row id): a release frees its units, a commit also takes them off hand.
    """
    changing: list[HeldReservation] = []
    for reservation_id in dict.fromkeys(reservation_ids):
        reservation = reservations.get(reservation_id)
        if reservation is None:
            raise ReservationNotFoundError(reservation_id)
        if reservation.status == target:
            continue
        if reservation.status != ReservationStatus.ACTIVE:
            raise ReservationNotActiveError(reservation.id, reservation.status)
        balance = balances.get(reservation.stock_item_id)
        if balance is None:
            raise StockItemNotFoundError(reservation.sku)
        if balance.reserved < reservation.quantity:
            raise InventoryError(
                "reservation_state_invalid",
                f"The stock row of reservation '{reservation.id}' holds less than it reserved",
            )
        on_hand = balance.on_hand
        if target == ReservationStatus.COMMITTED:
            if on_hand < reservation.quantity:
                raise InventoryError(
                    "insufficient_on_hand_stock",
                    f"The stock row of reservation '{reservation.id}' has less on hand than it reserved",
                )
            on_hand -= reservation.quantity
        balances[reservation.stock_item_id] = Balance(on_hand, balance.reserved - reservation.quantity)
        changing.append(reservation)
    return changing


def receive_into(balance: Balance, quantity: int, sku: str) -> Balance:
    """The balance after receiving `quantity`; refused where on-hand would pass int64."""
    if balance.on_hand > INT64_MAX - quantity:
        raise InventoryError("receipt_quantity_invalid", f"The on-hand quantity of '{sku}' would exceed {INT64_MAX}")
    return Balance(balance.on_hand + quantity, balance.reserved)
