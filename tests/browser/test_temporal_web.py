"""Temporal Web (the dev server's own UI, configured as `make run` does) shows an order's run decoded to an operator
logged in to the console, and ciphertext to anyone else.

Both browsers make the one-time Codec Server setting the console's order page names, so the console's login is
the only difference between them. The screenshots: `<screenshots>/temporal_web/01-decoded-for-the-operator.png`
and `02-ciphertext-without-login.png` (docs/screenshots/temporal-web-*.png are copies).
"""

import uuid
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Journeys
from tests.browser.test_journeys import Shots, login

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page, ViewportSize

pytestmark = pytest.mark.e2e

ARM_BLK = "9572fb9d-f059-401e-9041-7fc75f8cb414"
WIDE: "ViewportSize" = {"width": 1440, "height": 1000}
BANNER = "Codec Server could not connect"
DECODE_TIMEOUT_MS = 30_000


def banner(page: "Page") -> "Locator":
    """Temporal Web's red banner when a codec call fails (its button's tooltip holds the same words, hidden)."""
    return page.get_by_text(BANNER).filter(visible=True)


async def set_codec_server_once(page: "Page", endpoint: str) -> None:
    """What the console's order page tells the operator to set in Temporal Web, done in its own dialog."""
    await page.locator('[data-testid^="data-encoder-status"]').click()
    await page.get_by_label("Use my browser setting and ignore Cluster-level setting.").check()
    await page.get_by_test_id("data-encoder-endpoint-input").fill(endpoint)
    await page.get_by_text("Include cross-origin credentials", exact=True).click()
    await page.get_by_role("button", name="Apply").click()


async def test_an_operator_reads_the_order_decoded_and_a_stranger_reads_ciphertext(
    browser: "Browser", journeys: Journeys
) -> None:
    from playwright.async_api import expect

    shots = Shots(journeys.screenshots, "temporal_web")
    email = f"temporal.web.{uuid.uuid4().hex[:8]}@example.com"
    async with journeys.stack.http_client(30.0) as http:
        placed = await http.post(
            "/api/orders",
            json={
                "customerName": "Grace Hopper",
                "customerEmail": email,
                "items": [{"productVariantId": ARM_BLK, "quantity": 1}],
            },
        )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    operator = await browser.new_context(viewport=WIDE)
    stranger = await browser.new_context(viewport=WIDE)
    try:
        console = await operator.new_page()
        await login(console, journeys.base_url)
        await console.goto(f"{journeys.base_url}/ops/orders/{order_id}")
        endpoint = await console.locator("#temporal-web-codec code").inner_text()
        assert endpoint == f"{journeys.base_url}/codec"
        async with operator.expect_page() as opened:
            await console.get_by_role("link", name="Open the run in Temporal Web").click()
        web = await opened.value
        await expect(web.get_by_text(f"order-{order_id}").first).to_be_visible()
        run_url = web.url
        await set_codec_server_once(web, endpoint)
        await web.reload()
        await expect(web.locator("body")).to_contain_text(email, timeout=DECODE_TIMEOUT_MS)
        await expect(banner(web)).to_have_count(0)
        await shots.take(web, "decoded-for-the-operator")

        page = await stranger.new_page()
        await page.goto(run_url)
        await set_codec_server_once(page, endpoint)
        await page.reload()
        await expect(banner(page)).to_be_visible(timeout=DECODE_TIMEOUT_MS)  # the codec server answered 401
        for decoded in (email, "customerEmail", "Grace Hopper"):
            await expect(page.locator("body")).not_to_contain_text(decoded)
        await shots.take(page, "ciphertext-without-login")
    finally:
        await stranger.close()
        await operator.close()
