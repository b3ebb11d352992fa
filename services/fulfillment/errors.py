"""Refusals of the fulfillment context: not-found is 404 (shipments and orders alike), the rest 400."""

from uuid import UUID

from services.errors import DomainError, NotFoundError


class ShipmentNotFoundError(NotFoundError):
    def __init__(self, shipment_id: UUID) -> None:
        super().__init__("shipment_not_found", f"Shipment '{shipment_id}' was not found.")


class ShipmentCannotBeShippedError(DomainError):
    def __init__(self, shipment_id: UUID, status: str) -> None:
        super().__init__("shipment_cannot_be_shipped", f"Shipment '{shipment_id}' is {status}; only Pending ships.")


class ShipmentCannotBeCancelledError(DomainError):
    def __init__(self, shipment_id: UUID, status: str) -> None:
        super().__init__("shipment_cannot_be_cancelled", f"Shipment '{shipment_id}' is {status}; only Pending cancels.")


class OrderNotFoundError(NotFoundError):
    """For the shipments routes: Fulfillment answers an unknown order with 404 (contract section 7.2)."""

    def __init__(self, order_id: UUID) -> None:
        super().__init__("order_not_found", f"Order '{order_id}' was not found.")


class OrderNotReadyForShipmentError(DomainError):
    """For the shipments routes: the order exists but is not Paid (contract section 7.2)."""

    def __init__(self, order_id: UUID, status: str) -> None:
        super().__init__("order_not_ready_for_shipment", f"Order '{order_id}' is {status}; only Paid orders ship.")
