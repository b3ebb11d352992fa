"""The operator console over HTTP, in-process, on real PostgreSQL and a real Temporal dev server."""

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.web.ops import buttons
from contracts.order import OrderStatus
from stack.settings import Settings
from tests.conftest import open_api
from tests.operator import OPERATOR_TOKEN
from tests.provider import LocalStripe
from tests.web.test_shop_pages import _available, _json, paid_with_card, place_order


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None, "no CSRF field in the form"
    return match.group(1)


async def login(web: httpx.AsyncClient, token: str = OPERATOR_TOKEN) -> httpx.Response:
    form = await web.get("/ops/login", params={"next": "/ops/orders"})
    assert form.status_code == 200
    return await web.post("/ops/login", data={"token": token, "csrf": _csrf(form.text), "next": "/ops/orders"})


async def test_the_console_needs_a_login(web: httpx.AsyncClient) -> None:
    for path in ("/ops", "/ops/orders", "/ops/stock", "/ops/catalog"):
        response = await web.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/ops/login"), path
    order_id = await place_order(web)
    forged = await web.post(f"/ops/orders/{order_id}/cancel", data={"csrf": "x"})
    assert forged.status_code == 303 and forged.headers["location"].startswith("/ops/login")
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "PendingPayment"


async def test_a_wrong_token_is_refused_and_a_right_one_opens_a_strict_httponly_session(
    web: httpx.AsyncClient,
) -> None:
    wrong = await login(web, "not-the-token")
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert "ops_session" not in web.cookies
    right = await login(web)
    assert right.status_code == 303 and right.headers["location"] == "/ops/orders"
    cookie = right.headers["set-cookie"]
    assert "ops_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=" in cookie and "Path=/ops" in cookie
    assert (await web.get("/ops/orders")).status_code == 200


async def test_the_login_form_needs_its_csrf_token(web: httpx.AsyncClient) -> None:
    await web.get("/ops/login")
    refused = await web.post("/ops/login", data={"token": OPERATOR_TOKEN, "csrf": "forged"})
    assert refused.status_code == 403 and "ops_session" not in web.cookies


async def test_an_operator_ships_a_paid_order_and_a_form_without_csrf_is_refused(
    web: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    order_id = await place_order(web)
    await paid_with_card(web, localstripe, order_id)
    await login(web)
    page = await web.get(f"/ops/orders/{order_id}")
    assert "Create shipment and ship" in page.text and f"workflows/order-{order_id}" in page.text
    assert "Paid" in page.text and "Reserved 2 × ARM-BLK" in page.text

    without = await web.post(f"/ops/orders/{order_id}/ship", data={"carrier": "DHL"})
    assert without.status_code == 403
    forged = await web.post(f"/ops/orders/{order_id}/ship", data={"carrier": "DHL", "csrf": "forged"})
    assert forged.status_code == 403
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "Paid"

    shipped = await web.post(
        f"/ops/orders/{order_id}/ship", data={"carrier": "DHL", "tracking_number": "TRK1", "csrf": _csrf(page.text)}
    )
    assert shipped.status_code == 303 and shipped.headers["location"].endswith("done=ship")
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "Shipped"
    after = await web.get(f"/ops/orders/{order_id}")
    assert "Shipped (DHL, TRK1)" in after.text and "Stock committed: 2 × ARM-BLK" in after.text
    [payment] = await _json(web, f"/api/orders/{order_id}/payments")
    money = re.search(
        r'<tr><th scope="row">Stripe</th><td><code>(pi_\w+)</code></td><td>Succeeded</td>(.*?)</tr>', after.text, re.S
    )
    assert money is not None and money.group(1) == payment["providerId"]
    assert re.findall(r"<td>([\d.]+) USD</td>", money.group(2)) == ["138.00", "138.00", "138.00", "0.00"]
    shopper = await web.get(f"/orders/{order_id}/live")
    assert 'id="order-status">Shipped<' in shopper.text and "tracking number TRK1" in shopper.text


async def test_logout_ends_the_session(web: httpx.AsyncClient) -> None:
    await login(web)
    page = await web.get("/ops")
    out = await web.post("/ops/logout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ops/login"
    assert (await web.get("/ops")).status_code == 303


async def test_operator_cancels_and_expires(web: httpx.AsyncClient) -> None:
    await login(web)
    first, second = await place_order(web), await place_order(web)
    csrf = _csrf((await web.get(f"/ops/orders/{first}")).text)
    assert (await web.post(f"/ops/orders/{first}/cancel", data={"csrf": csrf})).status_code == 303
    assert (await web.post(f"/ops/orders/{second}/expire", data={"csrf": csrf})).status_code == 303
    assert (await _json(web, f"/api/orders/{first}"))["status"] == "Cancelled"
    assert (await _json(web, f"/api/orders/{second}"))["status"] == "Expired"
    refused = await web.post(f"/ops/orders/{first}/expire", data={"csrf": csrf})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    page = await web.get(refused.headers["location"])
    assert "cannot be expired" in page.text and "Released 2 × ARM-BLK" in page.text
    reflected = await web.get(f"/ops/orders/{first}", params={"error": "<script>alert(1)</script>"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reflected.text and "<script>alert" not in reflected.text


async def test_the_order_page_offers_the_buttons_of_the_actions_that_apply_and_no_other(
    web: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    await login(web)
    order_id = await place_order(web)
    page = await web.get(f"/ops/orders/{order_id}")
    forms = set(re.findall(rf'action="/ops/orders/{order_id}/([a-z-]+)"', page.text))
    assert forms == {"cancel", "expire"}  # PendingPayment: not shippable, and mark-paid has no button
    csrf = _csrf(page.text)
    for path in ("mark-paid", "no-such-action"):  # no button, no page
        refused = await web.post(f"/ops/orders/{order_id}/{path}", data={"csrf": csrf})
        assert refused.status_code == 404, path
    assert (await _json(web, f"/api/orders/{order_id}"))["status"] == "PendingPayment"
    await paid_with_card(web, localstripe, order_id)
    paid = await web.get(f"/ops/orders/{order_id}")
    offered = set(re.findall(rf'action="/ops/orders/{order_id}/([a-z-]+)"', paid.text))
    assert {"ship", "cancel"} <= offered  # shipping goes through a shipment, on its own form
    assert offered == {button.path for button in buttons(OrderStatus.PAID)}  # and whatever else a spec adds
    assert "Cancel order and refund" in paid.text


async def test_dashboard_counts_orders_by_status_and_charts_the_hour(
    web: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    await login(web)
    paid = await place_order(web)
    await paid_with_card(web, localstripe, paid)
    await place_order(web)
    dashboard = await web.get("/ops")
    assert dashboard.status_code == 200
    assert 'data-status="Paid">1<' in dashboard.text and 'data-status="PendingPayment">1<' in dashboard.text
    assert "2 orders placed and 0 compensated" in dashboard.text
    assert '<rect class="placed"' in dashboard.text


async def test_orders_table_filters_and_pages(web: httpx.AsyncClient, localstripe: LocalStripe) -> None:
    await login(web)
    ids = [await place_order(web, quantity=1) for _ in range(3)]
    await paid_with_card(web, localstripe, ids[0])
    paid = await web.get("/ops/orders", params={"status": "Paid"})
    assert ids[0] in paid.text and ids[1] not in paid.text and "1 order." in paid.text
    by_email = await web.get("/ops/orders", params={"email": "ADA@example.com"})
    assert "3 orders." in by_email.text
    nobody = await web.get("/ops/orders", params={"email": "bob@example.com"})
    assert "0 orders." in nobody.text
    today = datetime.now(UTC).date().isoformat()
    assert "3 orders." in (await web.get("/ops/orders", params={"day": today})).text
    assert "0 orders." in (await web.get("/ops/orders", params={"day": "2001-01-01"})).text
    assert (await web.get("/ops/orders", params={"status": "Nope"})).status_code == 400
    assert (await web.get("/ops/orders", params={"day": "31/01"})).status_code == 400


async def test_an_operator_receives_stock(web: httpx.AsyncClient) -> None:
    await login(web)
    before = await _available(web, "ARM-BLK")
    page = await web.get("/ops/stock")
    place = re.search(r'name="place"[^>]*>\s*<option value="([^"]+)"', page.text)
    assert place is not None
    received = await web.post(
        "/ops/stock/receipts",
        data={"sku": "arm-blk", "place": place.group(1), "quantity": "5", "reason": "PO-1", "csrf": _csrf(page.text)},
    )
    assert received.status_code == 303 and received.headers["location"].endswith("done=received")
    assert await _available(web, "ARM-BLK") == before + 5
    shown = await web.get("/ops/stock", params={"sku": "ARM-BLK"})
    assert "PO-1" in shown.text and "Receipt" in shown.text
    bad = await web.post(
        "/ops/stock/receipts",
        data={"sku": "ARM-BLK", "place": place.group(1), "quantity": "-1", "csrf": _csrf(page.text)},
    )
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    assert await _available(web, "ARM-BLK") == before + 5


async def test_an_operator_creates_publishes_and_archives_a_product(web: httpx.AsyncClient) -> None:
    await login(web)
    csrf = _csrf((await web.get("/ops/catalog")).text)
    created = await web.post("/ops/catalog/products", data={"name": "Desk Lamp", "slug": "desk-lamp", "csrf": csrf})
    assert created.headers["location"].endswith("done=product")
    assert "desk-lamp" not in [p["slug"] for p in await _json(web, "/api/products")]  # a Draft is not for sale
    catalog = await web.get("/ops/catalog")
    match = re.search(r'/ops/catalog/products/([0-9a-f-]{36})/publish"', catalog.text)
    assert match is not None and "Desk Lamp" in catalog.text
    product_id = match.group(1)
    refused = await web.post(f"/ops/catalog/products/{product_id}/publish", data={"csrf": csrf})
    assert "error=" in refused.headers["location"]  # no active variant yet
    variant = await web.post(
        f"/ops/catalog/products/{product_id}/variants",
        data={"sku": "LAMP-1", "name": "White", "price": "24.50", "currency": "USD", "csrf": csrf},
    )
    assert variant.headers["location"].endswith("done=variant")
    published = await web.post(f"/ops/catalog/products/{product_id}/publish", data={"csrf": csrf})
    assert published.headers["location"].endswith("done=published")
    shop = await web.get("/")
    assert "Desk Lamp" in shop.text and "24.50 USD" in shop.text
    await web.post(f"/ops/catalog/products/{product_id}/archive", data={"csrf": csrf})
    assert "Desk Lamp" not in (await web.get("/")).text


async def test_open_mode_needs_no_login_but_still_checks_csrf(
    web_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from worker import create_worker

    open_settings = web_settings.model_copy(update={"auth_mode": "open", "operator_tokens": []})
    async with create_worker(dev_env.client, open_settings, sessionmaker):
        async for web in open_api(open_settings):
            first = await web.get("/ops/stock")
            assert first.status_code == 303 and first.headers["location"].startswith("/ops/login")
            back = await web.get(first.headers["location"])
            assert back.status_code == 303 and back.headers["location"] == "/ops/stock"
            page = await web.get("/ops/stock")
            assert page.status_code == 200 and "Log out" not in page.text
            assert (await web.post("/ops/stock/receipts", data={"sku": "ARM-BLK", "quantity": "1"})).status_code == 403


async def test_without_an_app_secret_the_console_says_why(
    web_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    settings = web_settings.model_copy(update={"app_secret": None})
    async for web in open_api(settings):
        page = await web.get("/ops")
        assert page.status_code == 503 and "APP_SECRET is not set" in page.text
        assert (await web.get("/")).status_code == 200  # the shop does not need it
