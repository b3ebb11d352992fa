"""The web pages' pure parts: the pay page's Stripe.js, console sessions, the dashboard chart, prices and money."""

from datetime import UTC, datetime, timedelta

import pytest

from api.web.chart import minute_chart
from api.web.ops import parse_price
from api.web.pages import money
from api.web.session import csrf_token, csrf_valid, issue, verify
from api.web.shop import stock_label
from api.web.stripe_js import stripe_js
from services.errors import DomainError
from services.ordering.store import MinuteActivity
from stack.settings import Settings

KEY = b"k" * 32
NOW = datetime(2026, 11, 29, 12, 30, 15, tzinfo=UTC)


def test_the_pay_page_allows_exactly_the_providers_script_origin() -> None:
    local = stripe_js(Settings(stripe_api_base="http://127.0.0.1:8420/"))
    assert local.script_url == "http://127.0.0.1:8420/js.stripe.com/v3/"
    csp = local.content_security_policy()
    assert "script-src 'self' http://127.0.0.1:8420;" in csp and "unsafe-inline" not in csp
    stripe = stripe_js(Settings(stripe_publishable_key="pk_test_1"))
    assert stripe.script_url == "https://js.stripe.com/v3/" and stripe.publishable_key == "pk_test_1"
    assert "script-src 'self' https://js.stripe.com;" in stripe.content_security_policy()


def test_a_session_verifies_until_it_expires() -> None:
    token = issue(KEY, NOW, timedelta(hours=1), "subject")
    session = verify(KEY, token, NOW + timedelta(minutes=59))
    assert session is not None
    assert verify(KEY, token, NOW + timedelta(hours=1, seconds=1)) is None


def test_a_forged_or_foreign_session_is_refused() -> None:
    token = issue(KEY, NOW, timedelta(hours=1), "subject")
    version, expires, nonce, subject, mac = token.split(".")
    later = str(int(expires) + 3600)
    assert verify(KEY, ".".join([version, later, nonce, subject, mac]), NOW) is None  # expiry pushed back
    assert verify(KEY, ".".join([version, expires, nonce, "another", mac]), NOW) is None  # subject changed
    assert verify(b"x" * 32, token, NOW) is None  # another key
    for junk in ("", "v2", "v2.x.y.z.w", token + "a", "v3" + token[2:]):
        assert verify(KEY, junk, NOW) is None


def test_csrf_token_is_bound_to_its_session() -> None:
    first = verify(KEY, issue(KEY, NOW, timedelta(hours=1), "subject"), NOW)
    second = verify(KEY, issue(KEY, NOW, timedelta(hours=1), "subject"), NOW)
    assert first is not None and second is not None
    assert csrf_valid(KEY, first, csrf_token(KEY, first))
    assert not csrf_valid(KEY, first, csrf_token(KEY, second))
    assert not csrf_valid(KEY, first, None)
    assert not csrf_valid(KEY, first, "")


def test_chart_has_a_bar_per_kind_and_minute_scaled_to_the_peak() -> None:
    minute = NOW.replace(second=0, microsecond=0)
    activity = [
        MinuteActivity(minute - timedelta(minutes=2), placed=4, compensated=1),
        MinuteActivity(minute, placed=2, compensated=0),
        MinuteActivity(minute - timedelta(hours=2), placed=99, compensated=99),  # outside the hour
    ]
    chart = minute_chart(activity, NOW)
    assert chart.peak == 4
    assert (chart.total_placed, chart.total_compensated) == (6, 1)
    kinds = [(bar.kind, bar.label) for bar in chart.bars]
    assert kinds == [("placed", "12:28 UTC: 4 placed"), ("compensated", "12:28 UTC: 1 compensated"),
                     ("placed", "12:30 UTC: 2 placed")]  # fmt: skip
    tallest, compensated, half = chart.bars
    assert tallest.height == pytest.approx(4 * compensated.height)
    assert tallest.height == pytest.approx(2 * half.height)
    assert tallest.y + tallest.height == pytest.approx(chart.plot_bottom)
    assert tallest.x < half.x <= chart.width


def test_an_empty_hour_draws_no_bar() -> None:
    chart = minute_chart([], NOW)
    assert chart.bars == [] and chart.peak == 1


@pytest.mark.parametrize(("text", "minor"), [("69.00", 6900), ("69", 6900), (" 0.5 ", 50), ("1234.56", 123456)])
def test_prices_are_read_in_major_units(text: str, minor: int) -> None:
    assert parse_price(text) == minor


@pytest.mark.parametrize("text", ["", "abc", "1.234", "NaN", "Infinity", "1e400"])
def test_bad_prices_are_refused(text: str) -> None:
    with pytest.raises(DomainError):
        parse_price(text)


def test_money_shows_minor_units_with_two_decimals() -> None:
    assert money(6900, "USD") == "69.00 USD"
    assert money(123456789, "EUR") == "1,234,567.89 EUR"


@pytest.mark.parametrize(
    ("available", "label"),
    [(100, "in stock"), (6, "in stock"), (5, "only 5 left"), (1, "only 1 left"), (0, "out of stock"),
     (-2, "out of stock")],
)  # fmt: skip
def test_the_shop_says_in_stock_or_only_a_few_left(available: int, label: str) -> None:
    assert stock_label(available) == label
