"""The money lifecycle on the system as separate processes, with localstripe delivering its own signed webhooks to
the API: nobody asks the server to re-read anything, and the order still follows its PaymentIntent."""

import httpx
import pytest

from services.payment.provider import IntentStatus
from services.payment.stripe_provider import build_provider
from tests.demo import ARM_BLK
from tests.e2e.processes import Stack
from tests.eventually import assert_eventually
from tests.http import Json, ok, order_status, place
from tests.provider import GOOD_CARD, confirm_with_card

pytestmark = pytest.mark.e2e

WEBHOOK_TIMEOUT = 30.0


async def test_a_webhook_pays_the_order_and_shipping_captures_it(stack: Stack, http: httpx.AsyncClient) -> None:
    order = await place(http, (ARM_BLK, 1))
    payment: Json = ok(await http.post("/api/payments", json={"orderId": order["id"], "provider": "Stripe"}), 201)

    await confirm_with_card(stack.localstripe_url, payment["clientSecret"], GOOD_CARD)  # no return to the shop

    async def paid() -> None:
        assert await order_status(http, order) == "Paid"

    await assert_eventually(paid, timeout=WEBHOOK_TIMEOUT)  # localstripe's signed event, verified by the API
    shipped = ok(await http.post(f"/api/orders/{order['id']}/mark-shipped"))
    assert shipped["status"] == "Shipped"
    intent = await build_provider(stack.settings()).retrieve(payment["providerId"])
    assert intent.status is IntentStatus.SUCCEEDED and intent.amount_received_minor == order["totalAmountMinor"]
    [recorded] = ok(await http.get(f"/api/orders/{order['id']}/payments"))
    assert recorded["capturedMinor"] == order["totalAmountMinor"]
