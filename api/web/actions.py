"""What a page does to an order, through the very code the REST routes run (no second copy of a rule).

This module is the web pages' only import of the order-workflow facade, and it calls the REST handlers of
checkout, payments, shipments and order actions as plain functions, so a page and `curl` change an order the
same way: through its workflow.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from fastapi import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import OrderWorkflows
from api.routes import orders as order_routes
from api.routes import payments as payment_routes
from api.routes import shipments as shipment_routes
from api.web.cards import CardOutcome
from contracts.order import OrderDetails
from services.fulfillment.schemas import CreateShipmentRequest, ShipmentDetailsDto, ShipShipmentRequest
from services.payment.schemas import (
    CreatePaymentRequest,
    FailPaymentRequest,
    PaymentDetailsDto,
    SucceedPaymentRequest,
)

Sessions = async_sessionmaker[AsyncSession]
CARD_PROVIDER = "TestCard"
DECLINE_REASON = "card_declined: the test card 4000 0000 0000 0002 is always declined"


async def checkout(workflows: OrderWorkflows, cart_id: UUID, customer_name: str, customer_email: str) -> OrderDetails:
    """`POST /api/carts/{id}/checkout`: the order is placed (or refused with the API's error code)."""
    body = order_routes.CheckoutRequest(customer_name=customer_name, customer_email=customer_email)
    return await order_routes.checkout_cart(cart_id, body, workflows, Response())


@asynccontextmanager
async def one_payer_at_a_time(sessionmaker: Sessions, order_id: UUID) -> AsyncIterator[None]:
    """Serialise the shop's payments of one order (a PostgreSQL advisory lock held by a transaction).

    Two "Pay now" submissions at once would otherwise both see the order PendingPayment and both charge it:
    the second payment's `succeed` is a no-op for the workflow, so the REST route records it as succeeded too.
    Under the lock, the second one sees the order Paid and is refused before it creates a payment.
    """
    key = int.from_bytes(order_id.bytes[:8], "big", signed=True)
    async with sessionmaker.begin() as session:
        await session.execute(select(func.pg_advisory_xact_lock(key)))
        yield


async def pay(workflows: OrderWorkflows, order: OrderDetails, outcome: CardOutcome, last4: str) -> PaymentDetailsDto:
    """A payment of the order's total, then `succeed` (the order becomes Paid) or `fail` (it keeps waiting)."""
    request = CreatePaymentRequest(
        order_id=order.id, amount_minor=order.total_amount_minor, currency=order.currency, provider=CARD_PROVIDER
    )
    payment = await payment_routes.create_payment(request, workflows.sessionmaker, Response(), operator=False)
    if outcome is CardOutcome.APPROVED:
        return await payment_routes.succeed_payment(
            payment.id, workflows, SucceedPaymentRequest(provider_reference=f"card-{last4}")
        )
    return await payment_routes.fail_payment(payment.id, workflows, FailPaymentRequest(failure_reason=DECLINE_REASON))


async def cancel(workflows: OrderWorkflows, order_id: UUID) -> OrderDetails:
    """`POST /api/orders/{id}/cancel`: stock released, payments refunded."""
    return await order_routes.cancel_order(order_id, workflows)


async def expire(workflows: OrderWorkflows, order_id: UUID) -> OrderDetails:
    """`POST /api/orders/{id}/expire`."""
    return await order_routes.expire_order(order_id, workflows)


async def ship(workflows: OrderWorkflows, order_id: UUID, carrier: str, tracking_number: str) -> ShipmentDetailsDto:
    """`POST /api/shipments` then `POST /api/shipments/{id}/ship`: the order becomes Shipped, its stock committed."""
    request = CreateShipmentRequest(order_id=order_id, carrier=carrier, tracking_number=tracking_number)
    shipment = await shipment_routes.create_shipment(request, workflows.sessionmaker, Response())
    return await shipment_routes.ship_shipment(
        shipment.id, workflows, ShipShipmentRequest(carrier=carrier, tracking_number=tracking_number)
    )
