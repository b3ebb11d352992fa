"""The fulfillment store against a real PostgreSQL: creation rules, ship and cancel with every refusal,
idempotent repeats, the per-order cancel, and conflicting transitions racing on one shipment."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.errors import DomainError, NotFoundError
from services.fulfillment.schemas import (
    CreateShipmentRequest,
    ShipmentDetailsDto,
    ShipmentListItemDto,
    ShipmentStatus,
)
from services.fulfillment.store import FulfillmentStore
from services.schemas import ZERO_UUID
from tests.stores import Sessions, in_transaction, refused_in_transaction

Action = Callable[[FulfillmentStore], Awaitable[Any]]


async def _run(sessionmaker: Sessions, action: Action) -> Any:
    return await in_transaction(sessionmaker, FulfillmentStore, action)


async def _refused(sessionmaker: Sessions, action: Action) -> DomainError:
    return await refused_in_transaction(sessionmaker, FulfillmentStore, action)


async def _create(
    sessionmaker: Sessions,
    order_id: UUID | None = None,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> ShipmentDetailsDto:
    request = CreateShipmentRequest(order_id=order_id or uuid4(), carrier=carrier, tracking_number=tracking_number)
    shipment = await _run(sessionmaker, lambda s: s.create(request))
    assert isinstance(shipment, ShipmentDetailsDto)
    return shipment


async def _get(sessionmaker: Sessions, shipment_id: UUID) -> ShipmentDetailsDto:
    shipment = await _run(sessionmaker, lambda s: s.get(shipment_id))
    assert isinstance(shipment, ShipmentDetailsDto)
    return shipment


# --- create and reads ---------------------------------------------------------------------------------


async def test_create_records_a_pending_shipment_with_trimmed_optional_fields(sessionmaker: Sessions) -> None:
    order_id = uuid4()
    shipment = await _create(sessionmaker, order_id, carrier="  DHL ", tracking_number="   ")

    assert shipment.order_id == order_id
    assert shipment.status == ShipmentStatus.PENDING
    assert (shipment.carrier, shipment.tracking_number) == ("DHL", None)
    assert shipment.created_at == shipment.updated_at
    assert (shipment.shipped_at, shipment.cancelled_at) == (None, None)
    assert await _get(sessionmaker, shipment.id) == shipment


@pytest.mark.parametrize(
    ("order_id", "carrier", "tracking_number", "code"),
    [
        (ZERO_UUID, None, None, "order_id_required"),
        (ZERO_UUID, "c" * 101, "t" * 201, "order_id_required"),
        (uuid4(), "c" * 101, None, "carrier_too_long"),
        (uuid4(), "c" * 101, "t" * 201, "carrier_too_long"),
        (uuid4(), None, "t" * 201, "tracking_number_too_long"),
    ],
)
async def test_create_refusals(
    sessionmaker: Sessions, order_id: UUID, carrier: str | None, tracking_number: str | None, code: str
) -> None:
    request = CreateShipmentRequest(order_id=order_id, carrier=carrier, tracking_number=tracking_number)
    error = await _refused(sessionmaker, lambda s: s.create(request))
    assert (error.code, error.status_code) == (code, 400)
    assert (await _run(sessionmaker, lambda s: s.list())).items == []


async def test_create_accepts_the_maximum_lengths(sessionmaker: Sessions) -> None:
    shipment = await _create(sessionmaker, carrier="c" * 100, tracking_number="t" * 200)
    assert (await _get(sessionmaker, shipment.id)).tracking_number == "t" * 200


async def test_reads_list_newest_first_and_per_order_oldest_first(sessionmaker: Sessions) -> None:
    order_id = uuid4()
    first = await _create(sessionmaker, order_id)
    other = await _create(sessionmaker)
    second = await _create(sessionmaker, order_id)  # no uniqueness per order

    listed = (await _run(sessionmaker, lambda s: s.list())).items
    assert [s.id for s in listed] == [second.id, other.id, first.id]
    assert listed[0] == ShipmentListItemDto.model_validate(second.model_dump())
    assert await _run(sessionmaker, lambda s: s.list_for_order(order_id)) == [first, second]
    assert await _run(sessionmaker, lambda s: s.list_for_order(uuid4())) == []
    assert await _run(sessionmaker, lambda s: s.get(uuid4())) is None


async def test_require_pending(sessionmaker: Sessions) -> None:
    shipment = await _create(sessionmaker)
    assert await _run(sessionmaker, lambda s: s.require_pending(shipment.id)) == shipment

    unknown = await _refused(sessionmaker, lambda s: s.require_pending(uuid4()))
    assert isinstance(unknown, NotFoundError) and unknown.code == "shipment_not_found"

    await _run(sessionmaker, lambda s: s.cancel(shipment.id))
    cancelled = await _refused(sessionmaker, lambda s: s.require_pending(shipment.id))
    assert (cancelled.code, cancelled.status_code) == ("shipment_cannot_be_shipped", 400)


# --- ship ---------------------------------------------------------------------------------------------


async def test_ship_overwrites_only_with_non_blank_values(sessionmaker: Sessions) -> None:
    kept = await _create(sessionmaker, carrier="DHL", tracking_number="T-1")
    replaced = await _create(sessionmaker, carrier="DHL", tracking_number="T-1")

    shipped_kept = await _run(sessionmaker, lambda s: s.mark_shipped(kept.id, "  ", None))
    assert shipped_kept.status == ShipmentStatus.SHIPPED
    assert (shipped_kept.carrier, shipped_kept.tracking_number) == ("DHL", "T-1")
    assert shipped_kept.shipped_at is not None and shipped_kept.updated_at == shipped_kept.shipped_at
    assert shipped_kept.cancelled_at is None

    shipped_replaced = await _run(sessionmaker, lambda s: s.mark_shipped(replaced.id, " UPS ", "Z-9"))
    assert (shipped_replaced.carrier, shipped_replaced.tracking_number) == ("UPS", "Z-9")
    assert await _get(sessionmaker, replaced.id) == shipped_replaced


async def test_ship_is_strict_unless_repeat_ok(sessionmaker: Sessions) -> None:
    shipment = await _create(sessionmaker)
    shipped = await _run(sessionmaker, lambda s: s.mark_shipped(shipment.id, "DHL", "T-1"))

    again = await _refused(sessionmaker, lambda s: s.mark_shipped(shipment.id, None, None))
    assert (again.code, again.status_code) == ("shipment_cannot_be_shipped", 400)

    repeated = await _run(sessionmaker, lambda s: s.mark_shipped(shipment.id, "UPS", "Z", repeat_ok=True))
    assert repeated == shipped == await _get(sessionmaker, shipment.id)


async def test_ship_twice_with_repeat_ok_changes_nothing(sessionmaker: Sessions) -> None:
    shipment = await _create(sessionmaker)
    first = await _run(sessionmaker, lambda s: s.mark_shipped(shipment.id, "DHL", None, repeat_ok=True))
    second = await _run(sessionmaker, lambda s: s.mark_shipped(shipment.id, "DHL", None, repeat_ok=True))
    assert first.status == ShipmentStatus.SHIPPED
    assert second == first == await _get(sessionmaker, shipment.id)


@pytest.mark.parametrize("repeat_ok", [False, True])
async def test_a_cancelled_shipment_never_ships(sessionmaker: Sessions, repeat_ok: bool) -> None:
    shipment = await _create(sessionmaker)
    cancelled = await _run(sessionmaker, lambda s: s.cancel(shipment.id))
    error = await _refused(sessionmaker, lambda s: s.mark_shipped(shipment.id, None, None, repeat_ok=repeat_ok))
    assert error.code == "shipment_cannot_be_shipped"
    assert await _get(sessionmaker, shipment.id) == cancelled


@pytest.mark.parametrize("repeat_ok", [False, True])
async def test_ship_of_an_unknown_shipment_is_404(sessionmaker: Sessions, repeat_ok: bool) -> None:
    unknown = await _refused(sessionmaker, lambda s: s.mark_shipped(uuid4(), None, None, repeat_ok=repeat_ok))
    assert (unknown.code, unknown.status_code) == ("shipment_not_found", 404)


async def test_ship_refuses_over_long_fields_and_keeps_the_shipment_pending(sessionmaker: Sessions) -> None:
    shipment = await _create(sessionmaker)
    carrier = await _refused(sessionmaker, lambda s: s.mark_shipped(shipment.id, "c" * 101, None))
    assert carrier.code == "carrier_too_long"
    tracking = await _refused(sessionmaker, lambda s: s.mark_shipped(shipment.id, None, "t" * 201))
    assert tracking.code == "tracking_number_too_long"
    assert await _get(sessionmaker, shipment.id) == shipment


# --- cancel -------------------------------------------------------------------------------------------


async def test_cancel_is_strict(sessionmaker: Sessions) -> None:
    shipment = await _create(sessionmaker, carrier="DHL")
    cancelled = await _run(sessionmaker, lambda s: s.cancel(shipment.id))
    assert cancelled.status == ShipmentStatus.CANCELLED
    assert cancelled.cancelled_at is not None and cancelled.shipped_at is None
    assert cancelled.carrier == "DHL"

    again = await _refused(sessionmaker, lambda s: s.cancel(shipment.id))
    assert (again.code, again.status_code) == ("shipment_cannot_be_cancelled", 400)
    assert await _get(sessionmaker, shipment.id) == cancelled

    shipped = await _create(sessionmaker)
    await _run(sessionmaker, lambda s: s.mark_shipped(shipped.id, None, None))
    assert (await _refused(sessionmaker, lambda s: s.cancel(shipped.id))).code == "shipment_cannot_be_cancelled"

    unknown = await _refused(sessionmaker, lambda s: s.cancel(uuid4()))
    assert (unknown.code, unknown.status_code) == ("shipment_not_found", 404)


async def test_a_replacement_shipment_after_a_cancel_can_ship(sessionmaker: Sessions) -> None:
    order_id = uuid4()
    first = await _create(sessionmaker, order_id)
    await _run(sessionmaker, lambda s: s.cancel(first.id))
    replacement = await _create(sessionmaker, order_id)
    shipped = await _run(sessionmaker, lambda s: s.mark_shipped(replacement.id, "DHL", "T-1"))
    statuses = [s.status for s in await _run(sessionmaker, lambda s: s.list_for_order(order_id))]
    assert statuses == ["Cancelled", "Shipped"]
    assert shipped.id == replacement.id


async def test_cancel_pending_for_order_cancels_only_its_pending_shipments_once(
    sessionmaker: Sessions,
) -> None:
    order_id = uuid4()
    pending = [await _create(sessionmaker, order_id) for _ in range(2)]
    shipped = await _create(sessionmaker, order_id)
    await _run(sessionmaker, lambda s: s.mark_shipped(shipped.id, None, None))
    elsewhere = await _create(sessionmaker)

    cancelled = await _run(sessionmaker, lambda s: s.cancel_pending_for_order(order_id))
    assert [s.id for s in cancelled] == [s.id for s in pending]
    assert all(s.status == ShipmentStatus.CANCELLED and s.cancelled_at is not None for s in cancelled)
    rows = await _run(sessionmaker, lambda s: s.list_for_order(order_id))
    assert [s.status for s in rows] == ["Cancelled", "Cancelled", "Shipped"]
    assert (await _get(sessionmaker, elsewhere.id)).status == ShipmentStatus.PENDING

    assert await _run(sessionmaker, lambda s: s.cancel_pending_for_order(order_id)) == []
    assert await _run(sessionmaker, lambda s: s.list_for_order(order_id)) == rows
    assert await _run(sessionmaker, lambda s: s.cancel_pending_for_order(uuid4())) == []


# --- concurrency --------------------------------------------------------------------------------------


async def _outcome(sessionmaker: Sessions, action: Action) -> str:
    try:
        await _run(sessionmaker, action)
    except DomainError as error:
        assert error.code in {"shipment_cannot_be_shipped", "shipment_cannot_be_cancelled"}
        return "refused"
    return "won"


async def _race_ship_and_cancel(sessionmaker: Sessions, shipment_id: UUID) -> None:
    ship, cancel = await asyncio.gather(
        _outcome(sessionmaker, lambda s: s.mark_shipped(shipment_id, "DHL", None)),
        _outcome(sessionmaker, lambda s: s.cancel(shipment_id)),
    )
    assert sorted([ship, cancel]) == ["refused", "won"]
    final = await _get(sessionmaker, shipment_id)
    assert final.status == (ShipmentStatus.SHIPPED if ship == "won" else ShipmentStatus.CANCELLED)
    assert (final.shipped_at is None) != (final.cancelled_at is None)


async def test_concurrent_ship_and_cancel_on_one_shipment_exactly_one_wins(sessionmaker: Sessions) -> None:
    shipments = [await _create(sessionmaker) for _ in range(5)]
    await asyncio.gather(*(_race_ship_and_cancel(sessionmaker, s.id) for s in shipments))


async def _race_two_ships(sessionmaker: Sessions, shipment_id: UUID) -> None:
    outcomes = await asyncio.gather(
        _outcome(sessionmaker, lambda s: s.mark_shipped(shipment_id, "DHL", "A")),
        _outcome(sessionmaker, lambda s: s.mark_shipped(shipment_id, "UPS", "B")),
    )
    assert sorted(outcomes) == ["refused", "won"]
    final = await _get(sessionmaker, shipment_id)
    winner = ("DHL", "A") if outcomes[0] == "won" else ("UPS", "B")
    assert (final.carrier, final.tracking_number) == winner


async def test_concurrent_strict_ships_of_one_shipment_exactly_one_wins(sessionmaker: Sessions) -> None:
    shipments = [await _create(sessionmaker) for _ in range(5)]
    await asyncio.gather(*(_race_two_ships(sessionmaker, s.id) for s in shipments))
