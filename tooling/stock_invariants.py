"""The inventory ledger's invariants, checked against the database after any test that stresses it."""

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def repeated_movements(session: AsyncSession) -> list[tuple[UUID, str, int]]:
    """(reservation id, movement type, count) of every reservation with more than one movement of a type."""
    rows = await session.execute(
        text(
            """
            SELECT reservation_id, type, COUNT(*) FROM inventory.stock_movements
            WHERE reservation_id IS NOT NULL GROUP BY reservation_id, type HAVING COUNT(*) > 1
            """
        )
    )
    return [(reservation_id, kind, count) for reservation_id, kind, count in rows]


async def assert_stock_invariants(session: AsyncSession) -> None:
    """Fail if any stock row disagrees with its ledger or reservations, or a reservation moved twice.

    For every (sku, warehouse, location) row: on_hand = receipts + adjustments + shipments (shipments are
    negative), reserved = the sum of its Active reservations, 0 <= reserved <= on_hand; and no reservation
    has two movements of one type.
    """
    ledger = (
        await session.execute(
            text(
                """
                SELECT s.sku, s.on_hand, s.reserved,
                       COALESCE((SELECT SUM(m.quantity) FROM inventory.stock_movements m
                                  WHERE m.sku = s.sku AND m.warehouse_id = s.warehouse_id
                                    AND m.location_id = s.location_id
                                    AND m.type IN ('Receipt', 'Adjustment', 'Shipment')), 0) AS ledger_on_hand,
                       COALESCE((SELECT SUM(m.quantity) FROM inventory.stock_movements m
                                  WHERE m.sku = s.sku AND m.warehouse_id = s.warehouse_id
                                    AND m.location_id = s.location_id
                                    AND m.type IN ('Reservation', 'Release', 'Shipment')), 0) AS ledger_reserved,
                       COALESCE((SELECT SUM(r.quantity) FROM inventory.stock_reservations r
                                  WHERE r.stock_item_id = s.id AND r.status = 'Active'), 0) AS active_reserved
                FROM inventory.stock_items s
                """
            )
        )
    ).all()
    for sku, on_hand, reserved, ledger_on_hand, ledger_reserved, active_reserved in ledger:
        assert on_hand == ledger_on_hand, f"{sku}: on_hand {on_hand} != ledger {ledger_on_hand}"
        assert reserved == active_reserved, f"{sku}: reserved {reserved} != active reservations {active_reserved}"
        assert reserved == ledger_reserved, f"{sku}: reserved {reserved} != ledger {ledger_reserved}"
        assert 0 <= reserved <= on_hand, f"{sku}: reserved {reserved} outside 0..{on_hand}"

    duplicated = await repeated_movements(session)
    assert not duplicated, f"reservations with repeated movements: {duplicated}"

    # every reservation's movements match its status: one Reservation, then at most one of Release/Shipment
    mismatched = (
        await session.execute(
            text(
                """
                SELECT r.id, r.status, ARRAY_AGG(m.type ORDER BY m.type) AS types
                FROM inventory.stock_reservations r
                LEFT JOIN inventory.stock_movements m ON m.reservation_id = r.id
                GROUP BY r.id, r.status
                HAVING NOT (
                    (r.status = 'Active' AND ARRAY_AGG(m.type ORDER BY m.type) = ARRAY['Reservation']::varchar[])
                 OR (r.status = 'Released'
                     AND ARRAY_AGG(m.type ORDER BY m.type) = ARRAY['Release', 'Reservation']::varchar[])
                 OR (r.status = 'Committed'
                     AND ARRAY_AGG(m.type ORDER BY m.type) = ARRAY['Reservation', 'Shipment']::varchar[]))
                """
            )
        )
    ).all()
    assert not mismatched, f"reservations whose movements disagree with their status: {mismatched}"
