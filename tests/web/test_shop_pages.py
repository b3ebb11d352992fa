"""The storefront over HTTP, in-process, on real PostgreSQL and a real Temporal dev server: each journey is
checked against what the REST API then reports (the same workflow, the same stores)."""

import asyncio
import re
from typing import Any

import httpx

from tests.demo import ARM_BLK as ARM_BLACK  # "Monitor Arm / Black", SKU ARM-BLK, 69.00 USD
from tests.eventually import assert_eventually
from tests.operator import OPERATOR_TOKEN
from tests.provider import DECLINED_CARD, GOOD_CARD, LocalStripe, confirm_with_card


async def _json(web: httpx.AsyncClient, path: str) -> Any:
    response = await web.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def _available(web: httpx.AsyncClient, sku: str) -> int:
    stock = await _json(web, f"/api/stock/{sku}")
    return int(stock["totalAvailableQuantity"])


async def place_order(web: httpx.AsyncClient, quantity: int = 2) -> str:
    added = await web.post("/cart/items", data={"variant_id": ARM_BLACK, "quantity": str(quantity)})
    assert added.status_code == 303 and added.headers["location"] == "/cart"
    assert "cart_id" in web.cookies
    cart = await web.get("/cart")
    assert "Monitor Arm" in cart.text and f"{69 * quantity:.2f} USD" in cart.text
    placed = await web.post("/checkout", data={"customer_name": "Ada", "customer_email": "ada@example.com"})
    assert placed.status_code == 303, placed.text
    match = re.fullmatch(r"/orders/([0-9a-f-]{36})", placed.headers["location"])
    assert match is not None
    return match.group(1)


async def pay_page(web: httpx.AsyncClient, order_id: str) -> tuple[str, str]:
    """The pay page: the client secret of the PaymentIntent it confirms, and where it returns to."""
    page = await web.post(f"/orders/{order_id}/pay")
    assert page.status_code == 200, page.text
    secret = re.search(r'data-client-secret="(pi_\w+_secret_\w+)"', page.text)
    back = re.search(r'data-return-url="([^"]+)"', page.text)
    assert secret is not None and back is not None, page.text
    return secret.group(1), back.group(1)


async def pay(web: httpx.AsyncClient, localstripe: LocalStripe, order_id: str, card: str) -> httpx.Response:
    """What a shopper does: open the pay page, the card confirmed by Stripe.js at the provider, back to the shop."""
    secret, back = await pay_page(web, order_id)
    await confirm_with_card(localstripe.base_url, secret, card)
    return await web.get(back)


async def test_pages_carry_the_security_headers(web: httpx.AsyncClient) -> None:
    for path in ("/", "/cart", "/static/app.js", "/ops/login", "/orders/not-an-id"):
        response = await web.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path


async def test_home_lists_products_with_price_and_availability(web: httpx.AsyncClient) -> None:
    home = await web.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert "Monitor Arm" in home.text and "from 69.00 USD" in home.text and "in stock" in home.text
    assert re.search(r"\d+ in stock", home.text) is None  # never the exact count a hoarder would aim at


async def test_a_shopper_buys_with_the_good_card(web: httpx.AsyncClient, localstripe: LocalStripe) -> None:
    before = await _available(web, "ARM-BLK")
    order_id = await place_order(web)
    page = await web.get(f"/orders/{order_id}")
    assert "PendingPayment" in page.text and 'id="countdown"' in page.text and "Pay with card" in page.text
    assert await _available(web, "ARM-BLK") == before - 2

    paid = await pay(web, localstripe, order_id, GOOD_CARD)
    assert paid.status_code == 303 and paid.headers["location"] == f"/orders/{order_id}"
    await _eventually_status(web, order_id, "Paid")
    payments = [p for p in await _json(web, "/api/payments") if p["orderId"] == order_id]
    assert [(p["status"], p["amountMinor"], p["provider"]) for p in payments] == [("Succeeded", 13800, "Stripe")]
    live = await web.get(f"/orders/{order_id}/live")
    assert 'id="order-status">Paid<' in live.text and "Pay with card" not in live.text
    assert (await _json(web, "/api/carts/" + web.cookies["cart_id"]))["items"] == []


async def test_a_declined_card_then_a_good_one_on_the_same_intent(
    web: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    order_id = await place_order(web)
    declined = await pay(web, localstripe, order_id, DECLINED_CARD)
    assert declined.status_code == 303
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "PendingPayment"
    assert "Pay with card" in (await web.get(f"/orders/{order_id}")).text

    payments = await _json(web, f"/api/orders/{order_id}/payments")
    assert [(p["status"], p["authorizedMinor"]) for p in payments] == [("Pending", 0)]

    assert (await pay(web, localstripe, order_id, GOOD_CARD)).status_code == 303
    await _eventually_status(web, order_id, "Paid")
    statuses = [p["status"] for p in await _json(web, "/api/payments") if p["orderId"] == order_id]
    assert statuses == ["Succeeded"]  # the same intent, paid with the second card


async def test_a_card_number_posted_to_the_shop_marks_nothing_paid(web: httpx.AsyncClient) -> None:
    order_id = await place_order(web)
    for headers in ({}, {"Authorization": f"Bearer {OPERATOR_TOKEN}"}):
        page = await web.post(f"/orders/{order_id}/pay", data={"card_number": GOOD_CARD}, headers=headers)
        assert page.status_code == 200 and 'id="card-form"' in page.text
        csp = page.headers["content-security-policy"]
        script = re.search(r'<script src="(http://127\.0\.0\.1:\d+)/js\.stripe\.com/v3/"', page.text)
        assert script is not None and f"script-src 'self' {script.group(1)};" in csp
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "PendingPayment"
    payments = [p for p in await _json(web, "/api/payments") if p["orderId"] == order_id]
    assert [p["status"] for p in payments] == ["Pending"]


async def paid_with_card(web: httpx.AsyncClient, localstripe: LocalStripe, order_id: str) -> None:
    """The shopper pays with the good card, and the order is Paid."""
    await pay(web, localstripe, order_id, GOOD_CARD)
    await _eventually_status(web, order_id, "Paid")


async def _eventually_status(web: httpx.AsyncClient, order_id: str, status: str) -> None:
    async def reached() -> None:
        assert (await _json(web, f"/api/orders/{order_id}"))["status"] == status

    await assert_eventually(reached)


async def test_a_shopper_gets_at_most_the_cap_of_one_item(web: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}  # a shopper's browser: no operator token (the `web` client sends one)
    product = await web.get("/", headers=anonymous)
    match = re.search(r'href="(/products/[0-9a-f-]{36})">Monitor Arm', product.text)
    assert match is not None
    assert 'max="10"' in (await web.get(match.group(1), headers=anonymous)).text
    too_many = await web.post("/cart/items", data={"variant_id": ARM_BLACK, "quantity": "11"}, headers=anonymous)
    assert too_many.status_code == 400 and "at most 10 units of one item" in too_many.text
    added = await web.post("/cart/items", data={"variant_id": ARM_BLACK, "quantity": "10"}, headers=anonymous)
    assert added.status_code == 303
    more = await web.post("/cart/items", data={"variant_id": ARM_BLACK, "quantity": "1"}, headers=anonymous)
    assert more.status_code == 400 and "at most 10 units of one item" in more.text
    changed = await web.post(f"/cart/items/{ARM_BLACK}", data={"quantity": "11"}, headers=anonymous)
    assert changed.status_code == 400 and "at most 10 units of one item" in changed.text
    assert 'value="10"' in (await web.get("/cart", headers=anonymous)).text


async def test_checkout_shows_the_apis_validation_message(web: httpx.AsyncClient) -> None:
    await web.post("/cart/items", data={"variant_id": ARM_BLACK, "quantity": "1"})
    refused = await web.post("/checkout", data={"customer_name": "Ada", "customer_email": ""})
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
    assert "email" in refused.text.lower()
    assert (await _json(web, "/api/orders")) == []


async def test_cancelling_a_paid_order_shows_the_refund_and_releases_the_stock(
    web: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    before = await _available(web, "ARM-BLK")
    order_id = await place_order(web)
    await pay(web, localstripe, order_id, GOOD_CARD)
    await _eventually_status(web, order_id, "Paid")
    cancelled = await web.post(f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 303
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "Cancelled"
    assert await _available(web, "ARM-BLK") == before
    page = await web.get(f"/orders/{order_id}")
    assert "Refunded: 138.00 USD" in page.text and "payment was refunded" in page.text
    again = await web.post(f"/orders/{order_id}/cancel")
    assert again.status_code == 400 and "cannot be cancelled" in again.text


async def test_cart_quantity_change_and_removal(web: httpx.AsyncClient) -> None:
    await web.post("/cart/items", data={"variant_id": ARM_BLACK, "quantity": "1"})
    await web.post(f"/cart/items/{ARM_BLACK}", data={"quantity": "3"})
    assert "207.00 USD" in (await web.get("/cart")).text
    await web.post(f"/cart/items/{ARM_BLACK}/remove")
    assert "Your cart is empty" in (await web.get("/cart")).text


async def test_unknown_pages_and_bad_input_are_4xx_pages(web: httpx.AsyncClient) -> None:
    for path in ("/orders/not-an-id", "/orders/00000000-0000-0000-0000-000000000001", "/products/nope"):
        response = await web.get(path)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html"), path
    bad = await web.post("/cart/items", data={"variant_id": "nope", "quantity": "x"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")


async def test_two_pay_pages_at_once_share_the_orders_one_intent(
    web: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    order_id = await place_order(web)
    pages = await asyncio.gather(*(pay_page(web, order_id) for _ in range(4)))
    assert len(set(pages)) == 1
    await confirm_with_card(localstripe.base_url, pages[0][0], GOOD_CARD)
    assert (await web.get(pages[0][1])).status_code == 303
    await _eventually_status(web, order_id, "Paid")
    payments = [p for p in await _json(web, "/api/payments") if p["orderId"] == order_id]
    assert [p["status"] for p in payments] == ["Succeeded"]
