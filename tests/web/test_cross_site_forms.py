"""Forms posted from another site are refused (CSRF): a page there could otherwise replace a shopper's cart (its
answer sets the cart cookie) or act in the console. The browser says where a form comes from (`Sec-Fetch-Site`,
and `Origin` on every POST); a form of the site itself works, its first post without any cookie included."""

import httpx
import pytest

from tests.demo import ARM_BLK as ARM_BLACK
from tests.web.test_shop_pages import place_order

SAME_ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
CROSS_SITE = [
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "http://evil.example"},  # a browser without Fetch Metadata still names the origin of a POST
    {"Origin": "null"},  # a sandboxed frame or a data: page
    {"Origin": "http://shop.testserver", "Sec-Fetch-Site": "same-site"},  # a sibling host is another origin
    {"Origin": "http://testserver:8080"},  # another port too
]


def _add(variant: str = ARM_BLACK, quantity: int = 1) -> dict[str, str]:
    return {"variant_id": variant, "quantity": str(quantity)}


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda headers: " ".join(headers.values()))
async def test_a_cross_site_add_to_cart_is_refused_and_sets_no_cart(
    web: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    refused = await web.post("/cart/items", data=_add(), headers=headers)

    assert refused.status_code == 403 and "did not come from this site" in refused.text
    assert "cart_id" not in web.cookies and "set-cookie" not in refused.headers


async def test_a_cross_site_post_leaves_the_shoppers_cart_as_it_was(web: httpx.AsyncClient) -> None:
    added = await web.post("/cart/items", data=_add(quantity=2), headers=SAME_ORIGIN)  # the first, without a cookie
    assert added.status_code == 303 and "cart_id" in web.cookies
    cart_id = web.cookies["cart_id"]

    evil = CROSS_SITE[0]
    for path, data in (
        ("/cart/items", _add(quantity=9)),
        (f"/cart/items/{ARM_BLACK}", {"quantity": "7"}),
        (f"/cart/items/{ARM_BLACK}/remove", {}),
        ("/checkout", {"customer_name": "Eve", "customer_email": "eve@evil.example"}),
    ):
        assert (await web.post(path, data=data, headers=evil)).status_code == 403, path

    assert web.cookies["cart_id"] == cart_id
    cart = await web.get("/cart")
    assert "138.00 USD" in cart.text  # still two arms


async def test_order_and_console_forms_refuse_a_cross_site_post_too(web: httpx.AsyncClient) -> None:
    order_id = await place_order(web)
    evil = CROSS_SITE[0]
    assert (await web.post(f"/orders/{order_id}/cancel", headers=evil)).status_code == 403
    assert (await web.post(f"/orders/{order_id}/pay", data={"card_number": "4242"}, headers=evil)).status_code == 403
    assert (await web.post("/ops/login", data={"token": "x", "csrf": "x"}, headers=evil)).status_code == 403
    assert (await web.get(f"/api/orders/{order_id}")).json()["status"] == "PendingPayment"
    # a cross-site link (a GET) still opens the shop
    assert (await web.get("/", headers={"Sec-Fetch-Site": "cross-site"})).status_code == 200
