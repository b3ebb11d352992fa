"""Order placement (contract section 5.3): input found unstorable while fuzzing (tests/api/test_fuzz.py).

A NUL in the customer's name or email passed the checks, and the order's workflow then retried recording the
order forever (PostgreSQL refuses NUL in text) while the request failed after the action timeout. It is now
refused before any workflow starts: these tests have no Temporal at all, so a 400 proves it.

A price times a quantity beyond BIGINT did the same. The ordering store now refuses it as a domain error
(tested on the store: the recording activity still has to turn that refusal into a non-retryable failure).
"""

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.order_workflows import _rejected
from contracts.order import OrderStatus
from services.errors import DomainError
from services.ordering.store import OrderingStore
from services.validation import INT64_MAX
from tests.demo import ARM_BLK
from tests.http import refused
from tests.orders import pending_order

ORDER = {
    "customerName": "Ada Lovelace",
    "customerEmail": "ada@example.com",
    "items": [{"productVariantId": ARM_BLK, "quantity": 1}],
}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("customerName", "Ada\x00", "customer_name_invalid"),
        ("customerEmail", "ada@\x00example.com", "customer_email_invalid"),
    ],
)
async def test_placing_refuses_nul_characters(api: httpx.AsyncClient, field: str, value: str, code: str) -> None:
    refused(await api.post("/api/orders", json={**ORDER, field: value}), 400, code)
    assert (await api.get("/api/orders")).json() == []


async def test_a_total_beyond_bigint_is_a_domain_refusal(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    # A price the catalog accepts (at most int64) times a quantity ordering accepts (at most int32): PostgreSQL
    # would fail the insert on every retry of the recording activity.
    too_large = pending_order(unit_price=2**62, quantity=4, sku="BIG-1")
    async with sessionmaker.begin() as session:
        with pytest.raises(DomainError) as refused:
            await OrderingStore(session).record(too_large)
    assert refused.value.code == "order_total_too_large"

    largest = pending_order(unit_price=INT64_MAX, sku="BIG-1")
    async with sessionmaker.begin() as session:
        assert await OrderingStore(session).record(largest)
    async with sessionmaker() as session:
        stored = await OrderingStore(session).get(largest.id)
    assert stored is not None and stored.total_amount_minor == INT64_MAX
    async with sessionmaker() as session:
        assert await OrderingStore(session).get(too_large.id) is None


async def test_void_cancels_only_a_pending_order(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    pending, paid = pending_order(), pending_order()
    at = datetime.now(UTC)
    async with sessionmaker.begin() as session:
        store = OrderingStore(session)
        await store.record(pending)
        await store.record(paid)
        assert await store.record_status(paid.id, OrderStatus.PAID, at)
    async with sessionmaker.begin() as session:
        store = OrderingStore(session)
        assert await store.void(pending.id, at)
        assert not await store.void(pending.id, at)  # already voided
        assert not await store.void(paid.id, at)  # someone answered for it: not the placement's to undo
        assert not await store.void(uuid.uuid4(), at)  # never recorded
    async with sessionmaker() as session:
        store = OrderingStore(session)
        assert await store.status(pending.id) is OrderStatus.CANCELLED
        assert await store.status(paid.id) is OrderStatus.PAID


def test_a_placement_given_up_answers_503_and_a_refusal_400() -> None:
    # Placing that kept failing is the server's problem (retry later), a refusal is the request's.
    assert _rejected("order_placement_failed", "Placing the order kept failing").status_code == 503
    assert _rejected("insufficient_stock", "Not enough stock").status_code == 400
