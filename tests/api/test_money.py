"""Money that matches (issue 11, item 1): a payment is for exactly its order's total and currency, and money taken
never exceeds an order's total — a second payment of a paid order is refused, and a cancelled order keeps none.

Real PostgreSQL, a real Temporal dev server and the worker of worker.py.
"""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import OrderWorkflows
from contracts.order import OrderDetails
from services.payment.schemas import CreatePaymentRequest
from services.payment.store import PaymentStore
from tests.demo import ARM_BLK, NOTE_A5
from tests.http import ok, place, refused

Json = dict[str, Any]


def payment_of(order: Json, **overrides: Any) -> Json:
    body = {
        "orderId": order["id"],
        "amountMinor": order["totalAmountMinor"],
        "currency": order["currency"],
        "provider": "Manual",
    }
    return body | overrides


async def create_payment(api: httpx.AsyncClient, body: Json) -> Json:
    created = await api.post("/api/payments", json=body)
    assert created.status_code == 201, created.text
    payment: Json = created.json()
    return payment


async def money_kept(sessionmaker: async_sessionmaker[AsyncSession], order_id: str) -> int:
    """Σ succeeded − refunded of one order: what its Succeeded payments still hold."""
    async with sessionmaker() as session:
        kept = await session.scalar(
            text(
                "SELECT COALESCE(SUM(amount_minor), 0) FROM payment.payments"
                " WHERE order_id = :id AND status = 'Succeeded'"
            ),
            {"id": order_id},
        )
    return int(kept or 0)


async def test_a_payment_must_be_for_the_orders_total_and_currency(stack_api: httpx.AsyncClient) -> None:
    api = stack_api
    order = await place(api, (ARM_BLK, 1))  # 6900 USD

    refused(await api.post("/api/payments", json=payment_of(order, amountMinor=1)), 400, "payment_amount_mismatch")
    refused(await api.post("/api/payments", json=payment_of(order, amountMinor=6901)), 400, "payment_amount_mismatch")
    refused(await api.post("/api/payments", json=payment_of(order, currency="EUR")), 400, "payment_currency_mismatch")
    assert [p for p in ok(await api.get("/api/payments")) if p["orderId"] == order["id"]] == []

    # the currency is compared as stored: trimmed and upper-cased
    payment = await create_payment(api, payment_of(order, currency=" usd "))
    assert payment["currency"] == "USD"
    paid = ok(await api.post(f"/api/payments/{payment['id']}/succeed", json={}))
    assert paid["status"] == "Succeeded"


async def test_a_payment_recorded_for_another_amount_never_pays_the_order(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A payment recorded without the check (before it existed) is refused when it would succeed."""
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    async with sessionmaker.begin() as session:
        cent = await PaymentStore(session).create(
            CreatePaymentRequest(order_id=uuid.UUID(order["id"]), amount_minor=1, currency="USD", provider="Manual")
        )

    refused(await api.post(f"/api/payments/{cent.id}/succeed", json={}), 400, "payment_amount_mismatch")

    assert (ok(await api.get(f"/api/payments/{cent.id}")))["status"] == "Pending"
    assert (ok(await api.get(f"/api/orders/{order['id']}")))["status"] == "PendingPayment"


async def test_a_payment_for_an_unknown_order_is_recorded_but_never_succeeds(stack_api: httpx.AsyncClient) -> None:
    """As the seed's Payment .http "failed flow" expects: 201 for an unknown order id, then it can be failed."""
    api = stack_api
    unknown = {"id": "00000000-0000-0000-0000-000000000001", "totalAmountMinor": 5000, "currency": "USD"}
    payment = await create_payment(api, payment_of(unknown))
    refused(await api.post(f"/api/payments/{payment['id']}/succeed", json={}), 400, "order_not_found")
    assert (ok(await api.post(f"/api/payments/{payment['id']}/fail", json={})))["status"] == "Failed"


async def test_a_second_payment_of_a_paid_order_is_refused_and_takes_nothing(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    first, second = [await create_payment(api, payment_of(order)) for _ in range(2)]
    ok(await api.post(f"/api/payments/{first['id']}/succeed", json={}))

    refused(await api.post(f"/api/payments/{second['id']}/succeed", json={}), 400, "order_already_paid")

    assert (ok(await api.get(f"/api/payments/{second['id']}")))["status"] == "Pending"
    assert await money_kept(sessionmaker, order["id"]) == order["totalAmountMinor"]

    # once the order has shipped (its run has finished), a further payment is refused the same way
    shipment = (await api.post("/api/shipments", json={"orderId": order["id"]})).json()
    ok(await api.post(f"/api/shipments/{shipment['id']}/ship", json={}))
    third = await create_payment(api, payment_of(order))
    refused(await api.post(f"/api/payments/{third['id']}/succeed", json={}), 400, "order_already_paid")
    refused(await api.post(f"/api/payments/{second['id']}/succeed", json={}), 400, "order_already_paid")
    assert await money_kept(sessionmaker, order["id"]) == order["totalAmountMinor"]


async def test_a_retried_succeed_whose_first_attempt_paid_the_order_answers_with_the_payment(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt's update can land after its answer was lost (a killed worker, a 503): the retry read the
    payment Pending, then finds the order paid by this very payment. That is its outcome, not a second payment."""
    api = stack_api
    order = await place(api, (ARM_BLK, 1))
    payment = await create_payment(api, payment_of(order))
    act = OrderWorkflows.act

    async def first_attempt_lands_first(self: OrderWorkflows, *args: Any, **kwargs: Any) -> OrderDetails:
        await act(self, *args)  # the earlier attempt's update, without the retry's update id
        return await act(self, *args, **kwargs)

    monkeypatch.setattr(OrderWorkflows, "act", first_attempt_lands_first)
    paid = ok(await api.post(f"/api/payments/{payment['id']}/succeed", json={}))

    assert paid["id"] == payment["id"] and paid["status"] == "Succeeded"
    assert await money_kept(sessionmaker, order["id"]) == order["totalAmountMinor"]


async def test_a_payment_of_an_order_an_operator_marked_paid_is_refused(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    api = stack_api
    order = await place(api, (NOTE_A5, 1))
    payment = await create_payment(api, payment_of(order))
    assert (ok(await api.post(f"/api/orders/{order['id']}/mark-paid")))["status"] == "Paid"

    refused(await api.post(f"/api/payments/{payment['id']}/succeed", json={}), 400, "order_already_paid")
    assert await money_kept(sessionmaker, order["id"]) == 0


async def test_payments_racing_a_cancel_end_refunded_or_cancelled(
    stack_api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Succeed and cancel of one order, sent at once, in both orders of arrival: the cancelled order keeps nothing."""
    api = stack_api
    orders = [await place(api, (NOTE_A5, 1)) for _ in range(6)]
    payments = [await create_payment(api, payment_of(order)) for order in orders]

    async def race(n: int, order: Json, payment: Json) -> tuple[httpx.Response, httpx.Response]:
        succeed = api.post(f"/api/payments/{payment['id']}/succeed", json={})
        cancel = api.post(f"/api/orders/{order['id']}/cancel")
        if n % 2:
            cancelled, succeeded = await asyncio.gather(cancel, succeed)
        else:
            succeeded, cancelled = await asyncio.gather(succeed, cancel)
        return succeeded, cancelled

    results = await asyncio.gather(*(race(n, o, p) for n, (o, p) in enumerate(zip(orders, payments, strict=True))))

    for order, payment, (succeeded, cancelled) in zip(orders, payments, results, strict=True):
        assert cancelled.status_code == 200, cancelled.text  # a Paid order can be cancelled too
        assert succeeded.status_code in (200, 400), succeeded.text
        assert (ok(await api.get(f"/api/orders/{order['id']}")))["status"] == "Cancelled"
        final = (ok(await api.get(f"/api/payments/{payment['id']}")))["status"]
        assert final == ("Refunded" if succeeded.status_code == 200 else "Cancelled")
        assert await money_kept(sessionmaker, order["id"]) == 0
