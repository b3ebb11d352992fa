"""The Stripe.js that localstripe serves (stack/localstripe.py): `confirmCardPayment` with a card element in a real
browser — a good card, a declined card then a good one on the same intent, a 3-D Secure challenge — as the shop's
pay page uses it. The shop's own page and journeys are in test_journeys.py."""

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from services.payment.provider import IntentStatus
from tests.provider import DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD, LocalStripe

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

PAGE = """<!doctype html>
<script src="/js.stripe.com/v3/"></script>
<div id="card"></div>
<script>
  const stripe = Stripe('pk_test_localstripe');
  const card = stripe.elements().create('card');
  card.mount('#card');
  window.pay = (clientSecret) => stripe.confirmCardPayment(clientSecret, {payment_method: {card}});
</script>
"""


async def open_page(browser: "Browser", localstripe: LocalStripe) -> "Page":
    page = await browser.new_page()
    url = f"{localstripe.base_url}/pay-page"  # the provider's own origin: the page is not what is tested
    await page.route(url, lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    await page.goto(url)
    return page


async def pay(page: "Page", client_secret: str, number: str, *, challenge: str | None = None) -> dict[str, Any]:
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123")):
        await page.fill(f"#card input[placeholder={field}]", value)
    paying = asyncio.create_task(page.evaluate("secret => window.pay(secret)", client_secret))
    if challenge is not None:  # the stand-in's 3-D Secure dialog
        await page.get_by_role("button", name=challenge).click()
    result: dict[str, Any] = await paying
    return result


async def new_secret(localstripe: LocalStripe) -> tuple[str, str]:
    order_id = uuid.uuid4()
    intent = await localstripe.provider().create_intent(
        order_id=order_id, amount_minor=2_500, currency="EUR", idempotency_key=f"order-{order_id}-intent"
    )
    assert intent.client_secret is not None
    return intent.id, intent.client_secret


async def test_a_good_card_authorizes(browser: "Browser", localstripe: LocalStripe) -> None:
    page = await open_page(browser, localstripe)
    intent_id, secret = await new_secret(localstripe)

    result = await pay(page, secret, GOOD_CARD)

    assert "error" not in result and result["paymentIntent"]["status"] == "requires_capture"
    assert (await localstripe.provider().retrieve(intent_id)).status == IntentStatus.REQUIRES_CAPTURE


async def test_a_declined_card_then_a_good_one(browser: "Browser", localstripe: LocalStripe) -> None:
    page = await open_page(browser, localstripe)
    intent_id, secret = await new_secret(localstripe)

    declined = await pay(page, secret, DECLINED_CARD)
    assert declined["error"]["code"] == "card_declined"
    accepted = await pay(page, secret, GOOD_CARD)

    assert accepted["paymentIntent"]["status"] == "requires_capture"
    assert (await localstripe.provider().retrieve(intent_id)).amount_capturable_minor == 2_500


async def test_a_three_d_secure_card_is_challenged(browser: "Browser", localstripe: LocalStripe) -> None:
    page = await open_page(browser, localstripe)
    failed_id, failed_secret = await new_secret(localstripe)
    passed_id, passed_secret = await new_secret(localstripe)

    failed = await pay(page, failed_secret, THREE_D_SECURE_CARD, challenge="Fail authentication")
    passed = await pay(page, passed_secret, THREE_D_SECURE_CARD, challenge="Complete authentication")

    assert failed["error"]["code"] == "payment_intent_authentication_failure"
    assert passed["paymentIntent"]["status"] == "requires_capture"
    provider = localstripe.provider()
    assert (await provider.retrieve(failed_id)).status == IntentStatus.REQUIRES_PAYMENT_METHOD
    assert (await provider.retrieve(passed_id)).status == IntentStatus.REQUIRES_CAPTURE
