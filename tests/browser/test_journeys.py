"""What a shopper and an operator do in a real browser, each journey saving its screenshots.

"Without reload" is checked, not assumed: a marker is put on the page's `window` before waiting for the live
change, and it is still there afterwards (a reload or a navigation would have dropped it).
"""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from services.payment.stripe_provider import LOCALSTRIPE_API_KEY
from tests.browser.conftest import Journeys
from tests.operator import OPERATOR_HEADERS, OPERATOR_TOKEN
from tests.provider import DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD  # as typed into the card element

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 60_000  # the order page polls every second; generous for a loaded two-core machine
DESKTOP: "ViewportSize" = {"width": 1280, "height": 900}
PHONE: "ViewportSize" = {"width": 390, "height": 844}


class Shots:
    """Numbered full-page screenshots of one journey, in `<screenshots>/<journey>/`."""

    def __init__(self, root: Path, journey: str) -> None:
        self.folder = root / journey
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def take(self, page: "Page", name: str) -> None:
        self.count += 1
        await page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


@pytest.fixture
def shots(journeys: Journeys, request: pytest.FixtureRequest) -> Shots:
    return Shots(journeys.screenshots, request.node.name.removeprefix("test_"))


@pytest.fixture
async def context(browser: "Browser") -> AsyncIterator["BrowserContext"]:
    context = await browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: "BrowserContext") -> "Page":
    return await context.new_page()


async def available(base_url: str, sku: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, headers=OPERATOR_HEADERS) as http:
        return int((await http.get(f"/api/stock/{sku}")).json()["totalAvailableQuantity"])


async def mark_page(page: "Page") -> None:
    await page.evaluate("window.__notReloaded = true")


async def assert_not_reloaded(page: "Page") -> None:
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"


async def place_order(page: "Page", base_url: str, shots: Shots | None = None, quantity: int = 2) -> str:
    """Home -> product -> cart -> checkout; returns the order id, with the order page open."""
    await page.goto(base_url + "/")
    if shots:
        await shots.take(page, "home")
    await page.get_by_role("link", name="Monitor Arm").first.click()
    await page.get_by_label(re.compile("ARM-BLK")).check()
    await page.get_by_label("Quantity").fill(str(quantity))
    if shots:
        await shots.take(page, "product")
    await page.get_by_role("button", name="Add to cart").click()
    await page.wait_for_url(re.compile(r"/cart$"))
    if shots:
        await shots.take(page, "cart")
    await page.get_by_role("link", name="Check out").click()
    await page.get_by_label("Name").fill("Ada Lovelace")
    await page.get_by_label("Email").fill("ada@example.com")
    if shots:
        await shots.take(page, "checkout")
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    await expect_status(page, "PendingPayment")
    return page.url.rsplit("/", 1)[1]


async def expect_status(page: "Page", status: str) -> None:
    from playwright.async_api import expect

    await expect(page.locator("#order-status")).to_have_text(status, timeout=LIVE_TIMEOUT_MS)


async def open_pay_page(page: "Page") -> None:
    await page.get_by_role("button", name="Pay with card").click()
    await page.locator("#card-element input").first.wait_for()


async def enter_card(page: "Page", card: str) -> None:
    """The card typed into the provider's card element (localstripe's Stripe.js stand-in), then "Pay now": the
    card goes to the provider, and the page returns to the shop once the provider has answered."""
    for field, value in (("number", card), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123")):
        await page.fill(f"#card-element input[placeholder={field}]", value)
    await page.get_by_role("button", name="Pay now").click()


async def pay(page: "Page", card: str) -> None:
    await open_pay_page(page)
    await enter_card(page, card)


async def test_a_shopper_buys_with_the_good_card(page: "Page", journeys: Journeys, shots: Shots) -> None:
    from playwright.async_api import expect

    before = await available(journeys.base_url, "ARM-BLK")
    await place_order(page, journeys.base_url, shots)
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    assert await available(journeys.base_url, "ARM-BLK") == before - 2
    await shots.take(page, "order-pending")
    await pay(page, GOOD_CARD)
    await expect_status(page, "Paid")
    await expect(page.get_by_role("button", name="Pay with card")).to_have_count(0)
    await shots.take(page, "order-paid")
    await page.set_viewport_size(PHONE)
    await shots.take(page, "order-paid-phone")


async def test_a_declined_card_then_a_good_one(page: "Page", journeys: Journeys, shots: Shots) -> None:
    from playwright.async_api import expect

    await place_order(page, journeys.base_url)
    await pay(page, DECLINED_CARD)
    await expect(page.locator("#card-error")).not_to_be_empty()  # the provider's answer, on the pay page
    await shots.take(page, "declined")
    await enter_card(page, GOOD_CARD)  # the same PaymentIntent, another card
    await expect_status(page, "Paid")
    await shots.take(page, "paid")


async def test_a_three_d_secure_card_is_authenticated(page: "Page", journeys: Journeys, shots: Shots) -> None:
    await place_order(page, journeys.base_url)
    await open_pay_page(page)
    await shots.take(page, "pay-page")
    await enter_card(page, THREE_D_SECURE_CARD)
    complete = page.get_by_role("button", name="Complete authentication")  # the provider's challenge, not ours
    await complete.wait_for()
    await shots.take(page, "three-d-secure")
    await complete.click()
    await expect_status(page, "Paid")
    await shots.take(page, "paid")


async def test_a_shopper_cancels_and_the_stock_is_released(page: "Page", journeys: Journeys, shots: Shots) -> None:
    from playwright.async_api import expect

    before = await available(journeys.base_url, "ARM-BLK")
    await place_order(page, journeys.base_url)
    assert await available(journeys.base_url, "ARM-BLK") == before - 2
    await pay(page, GOOD_CARD)
    await expect_status(page, "Paid")
    await page.get_by_role("button", name="Cancel order and refund").click()
    await expect_status(page, "Cancelled")
    await expect(page.locator("#refund")).to_have_text("Refunded: 138.00 USD.")
    await expect(page.locator("#order-reason")).to_contain_text("refunded")
    assert await available(journeys.base_url, "ARM-BLK") == before
    await shots.take(page, "cancelled")


async def test_an_unpaid_order_expires_live(page: "Page", journeys: Journeys, shots: Shots) -> None:
    from playwright.async_api import expect

    before = await available(journeys.short_url, "ARM-BLK")
    await place_order(page, journeys.short_url)
    await shots.take(page, "pending-short-deadline")
    await mark_page(page)
    await expect_status(page, "Expired")
    await assert_not_reloaded(page)
    await expect(page.locator("#order-reason")).to_contain_text("not paid before the payment deadline")
    await expect(page.get_by_role("button", name="Pay with card")).to_have_count(0)
    assert await available(journeys.short_url, "ARM-BLK") == before
    await shots.take(page, "expired")


async def login(page: "Page", base_url: str, shots: Shots | None = None) -> None:
    await page.goto(base_url + "/ops")
    await page.wait_for_url(re.compile(r"/ops/login"))
    if shots:
        await shots.take(page, "login")
    await page.get_by_label("Operator token").fill(OPERATOR_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/ops$"))


async def test_an_operator_ships_and_the_shoppers_page_turns_shipped(
    page: "Page", browser: "Browser", journeys: Journeys, shots: Shots
) -> None:
    from playwright.async_api import expect

    order_id = await place_order(page, journeys.base_url)
    await pay(page, GOOD_CARD)
    await expect_status(page, "Paid")
    await mark_page(page)

    operator_context = await browser.new_context(viewport=DESKTOP)
    try:
        ops = await operator_context.new_page()
        await login(ops, journeys.base_url, shots)
        await shots.take(ops, "dashboard")
        await ops.get_by_role("link", name="Orders", exact=True).click()
        await ops.get_by_label("Status").select_option("Paid")
        await ops.get_by_role("button", name="Filter").click()
        await shots.take(ops, "orders-paid")
        await ops.locator(f'a[href="/ops/orders/{order_id}"]').click()
        await expect(ops.get_by_role("link", name="Open the run in Temporal Web")).to_have_attribute(
            "href", re.compile(f"/workflows/order-{order_id}$")
        )
        await ops.get_by_label("Carrier").fill("DHL")
        await ops.get_by_label("Tracking number").fill("JD0146")
        await shots.take(ops, "order-before-ship")
        await ops.get_by_role("button", name="Create shipment and ship").click()
        await expect(ops.locator("#order-status")).to_have_text("Shipped")
        await expect(ops.get_by_text("Shipped (DHL, JD0146)")).to_be_visible()
        intent_id = await expect_captured(ops, "138.00 USD")
        await shots.take(ops, "order-shipped")
    finally:
        await operator_context.close()

    await expect_status(page, "Shipped")
    await assert_not_reloaded(page)
    await expect(page.get_by_text("tracking number JD0146")).to_be_visible()
    await shots.take(page, "shopper-sees-shipped")
    # localstripe's intents carry no `amount_received`: what was captured is on the intent's charge
    auth = {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}
    async with httpx.AsyncClient(base_url=journeys.stack.localstripe_url, headers=auth) as provider:
        answer = await provider.get(f"/v1/payment_intents/{intent_id}", params={"expand[]": "latest_charge"})
    intent = answer.json()
    charge = intent["latest_charge"]
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 13_800, "usd")
    assert (charge["status"], charge["captured"], charge["amount"], charge["amount_refunded"]) == (
        "succeeded",
        True,
        13_800,
        0,
    )


async def expect_captured(ops: "Page", total: str) -> str:
    """The console order page's payment row once the capture is recorded (reloaded until then); its `pi_…` id."""
    from playwright.async_api import expect

    row = ops.locator("table[aria-labelledby=payments] tbody tr").first
    cells = [row.locator("th, td").nth(i) for i in range(7)]  # provider, id, status, amount, auth, captured, refunded
    async with asyncio.timeout(LIVE_TIMEOUT_MS / 1000):
        while await cells[5].inner_text() != total:
            await asyncio.sleep(0.5)
            await ops.reload()
    await expect(cells[0]).to_have_text("Stripe")
    await expect(cells[2]).to_have_text("Succeeded")
    for amount in cells[3:6]:
        await expect(amount).to_have_text(total)
    await expect(cells[6]).to_have_text("0.00 USD")
    return await cells[1].inner_text()


async def test_an_operator_receives_stock(page: "Page", journeys: Journeys, shots: Shots) -> None:
    from playwright.async_api import expect

    before = await available(journeys.base_url, "ARM-BLK")
    await login(page, journeys.base_url)
    await page.get_by_role("link", name="Stock", exact=True).click()
    await shots.take(page, "stock")
    await page.get_by_label("SKU", exact=True).first.fill("ARM-BLK")
    await page.get_by_label("Quantity").fill("7")
    await page.get_by_label("Reason").fill("PO-77")
    await page.get_by_role("button", name="Receive").click()
    await expect(page.get_by_role("status")).to_have_text("The stock was received.")
    await expect(page.locator("#stock-ARM-BLK [data-col=available]")).to_have_text(str(before + 7))
    await expect(page.get_by_role("cell", name="PO-77")).to_be_visible()
    assert await available(journeys.base_url, "ARM-BLK") == before + 7
    await shots.take(page, "received")
    await page.get_by_role("link", name="Catalog", exact=True).click()
    await shots.take(page, "catalog")


async def test_the_console_refuses_without_login_and_a_form_without_its_csrf_token(
    page: "Page", journeys: Journeys, shots: Shots
) -> None:
    from playwright.async_api import expect

    for path in ("/ops", "/ops/orders", "/ops/stock", "/ops/catalog"):
        await page.goto(journeys.base_url + path)
        await expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
    await page.get_by_label("Operator token").fill("wrong-token")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("That operator token is not valid.")
    await shots.take(page, "wrong-token")

    before = await available(journeys.base_url, "ARM-BLK")
    await login(page, journeys.base_url)
    await page.goto(journeys.base_url + "/ops/stock")
    await page.locator('form[action="/ops/stock/receipts"] input[name=csrf]').evaluate("input => input.remove()")
    await page.get_by_label("SKU", exact=True).first.fill("ARM-BLK")
    await page.get_by_role("button", name="Receive").click()
    await expect(page.get_by_role("heading", name="Refused")).to_be_visible()
    assert await available(journeys.base_url, "ARM-BLK") == before
    await shots.take(page, "csrf-refused")

    await page.goto(journeys.base_url + "/ops")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
    await page.goto(journeys.base_url + "/ops/orders")
    await expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
