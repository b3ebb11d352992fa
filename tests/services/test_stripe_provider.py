"""The Stripe adapter against a real localstripe process: authorize, capture once, void, refund, and a provider
that is down; plus localstripe's wrapper (idempotency keys, webhooks, its state file)."""

import hashlib
import hmac
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import stripe
from aiohttp import web

from services.payment.provider import IntentStatus, ProviderIntent, ProviderRefused, ProviderUnavailable
from services.payment.stripe_provider import StripeProvider, build_provider
from stack import localstripe as embedded
from stack.settings import Settings
from stack.supervisor import stop_process
from tests.eventually import assert_eventually
from tests.provider import (
    DECLINED_CARD,
    GOOD_CARD,
    THREE_D_SECURE_CARD,
    LocalStripe,
    confirm_with_card,
    running_localstripe,
)
from tooling.processes import ROOT, free_port

AMOUNT = 12_345


async def new_intent(provider: StripeProvider, amount: int = AMOUNT) -> tuple[uuid.UUID, ProviderIntent]:
    order_id = uuid.uuid4()
    intent = await provider.create_intent(
        order_id=order_id, amount_minor=amount, currency="EUR", idempotency_key=f"order-{order_id}-intent"
    )
    return order_id, intent


async def authorized(localstripe: LocalStripe) -> ProviderIntent:
    provider = localstripe.provider()
    _, intent = await new_intent(provider)
    assert intent.client_secret is not None
    await confirm_with_card(localstripe.base_url, intent.client_secret, GOOD_CARD)
    return await provider.retrieve(intent.id)


async def test_an_intent_is_created_for_the_order_to_be_captured_later(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    order_id, intent = await new_intent(provider)

    assert intent.id.startswith("pi_") and intent.client_secret and intent.client_secret.startswith(intent.id)
    assert intent.status == IntentStatus.REQUIRES_PAYMENT_METHOD
    assert (intent.amount_minor, intent.currency, intent.order_id) == (AMOUNT, "EUR", order_id)
    assert (intent.amount_capturable_minor, intent.amount_received_minor, intent.amount_refunded_minor) == (0, 0, 0)
    again = await provider.create_intent(
        order_id=order_id, amount_minor=AMOUNT, currency="EUR", idempotency_key=f"order-{order_id}-intent"
    )
    assert again.id == intent.id  # the same key: the same intent, not a second one


async def test_a_good_card_authorizes_the_whole_amount(localstripe: LocalStripe) -> None:
    intent = await authorized(localstripe)

    assert intent.status == IntentStatus.REQUIRES_CAPTURE
    assert (intent.amount_capturable_minor, intent.amount_received_minor) == (AMOUNT, 0)


async def test_a_declined_card_authorizes_nothing_and_another_card_can_follow(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    _, intent = await new_intent(provider)
    assert intent.client_secret is not None

    declined = await confirm_with_card(localstripe.base_url, intent.client_secret, DECLINED_CARD)

    assert declined["code"] == "card_declined"
    after_decline = await provider.retrieve(intent.id)
    assert after_decline.status == IntentStatus.REQUIRES_PAYMENT_METHOD and after_decline.amount_capturable_minor == 0
    await confirm_with_card(localstripe.base_url, intent.client_secret, GOOD_CARD)
    assert (await provider.retrieve(intent.id)).amount_capturable_minor == AMOUNT


async def test_the_browser_needs_the_intents_client_secret(localstripe: LocalStripe) -> None:
    _, intent = await new_intent(localstripe.provider())

    with pytest.raises(httpx.HTTPStatusError, match="401"):
        await confirm_with_card(localstripe.base_url, f"{intent.id}_secret_guessed", GOOD_CARD)


async def test_the_stripe_js_it_serves_confirms_cards_in_the_browser(localstripe: LocalStripe) -> None:
    async with httpx.AsyncClient(base_url=localstripe.base_url) as browser:
        script = await browser.get("/js.stripe.com/v3/")
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    assert "_authenticate" in script.text and "payment_method_data: {type: 'card'" in script.text


async def test_a_three_d_secure_card_waits_for_the_customer(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    _, challenged = await new_intent(provider)
    _, failed = await new_intent(provider)
    assert challenged.client_secret is not None and failed.client_secret is not None

    await confirm_with_card(localstripe.base_url, challenged.client_secret, THREE_D_SECURE_CARD, authenticate=True)
    await confirm_with_card(localstripe.base_url, failed.client_secret, THREE_D_SECURE_CARD, authenticate=False)

    assert (await provider.retrieve(challenged.id)).status == IntentStatus.REQUIRES_CAPTURE
    assert (await provider.retrieve(failed.id)).status == IntentStatus.REQUIRES_PAYMENT_METHOD


async def test_capture_takes_the_money_once_and_a_repeat_is_the_same_success(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    intent = await authorized(localstripe)

    captured = await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture")
    # a retried activity (same key), and a capture after the key is forgotten (another key): nothing moves twice
    same_key = await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture")
    other_key = await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture-2")

    for answer in (captured, same_key, other_key):
        assert answer.status == IntentStatus.SUCCEEDED
        assert (answer.amount_received_minor, answer.amount_capturable_minor, answer.amount_refunded_minor) == (
            AMOUNT,
            0,
            0,
        )


async def test_cancel_voids_an_authorization_and_a_repeat_is_the_same_success(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    intent = await authorized(localstripe)

    canceled = await provider.cancel(intent.id, idempotency_key=f"{intent.id}-cancel")
    again = await provider.cancel(intent.id, idempotency_key=f"{intent.id}-cancel-2")

    assert canceled.status == again.status == IntentStatus.CANCELED
    assert (again.amount_received_minor, again.amount_capturable_minor) == (0, 0)
    with pytest.raises(ProviderRefused):  # a voided authorization cannot be captured any more
        await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture")


async def test_a_captured_intent_cannot_be_voided(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    intent = await authorized(localstripe)
    await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture")

    with pytest.raises(ProviderRefused):
        await provider.cancel(intent.id, idempotency_key=f"{intent.id}-cancel")


async def test_a_refund_gives_back_money_once_per_key(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    intent = await authorized(localstripe)
    await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture")

    first = await provider.refund(intent.id, amount_minor=1_000, idempotency_key=f"{intent.id}-refund-1")
    repeated = await provider.refund(intent.id, amount_minor=1_000, idempotency_key=f"{intent.id}-refund-1")
    rest = await provider.refund(intent.id, amount_minor=AMOUNT - 1_000, idempotency_key=f"{intent.id}-refund-2")

    assert first.amount_refunded_minor == repeated.amount_refunded_minor == 1_000
    assert rest.amount_refunded_minor == AMOUNT and rest.amount_received_minor == AMOUNT


async def test_refusals_are_not_retryable(localstripe: LocalStripe) -> None:
    provider = localstripe.provider()
    with pytest.raises(ProviderRefused):
        await provider.retrieve("pi_doesnotexist")
    _, intent = await new_intent(provider)
    with pytest.raises(ProviderRefused):  # nothing authorized yet
        await provider.capture(intent.id, amount_minor=AMOUNT, idempotency_key=f"{intent.id}-capture")


async def test_a_provider_that_is_not_there_is_unavailable() -> None:
    provider = StripeProvider("sk_test_x", api_base=embedded.base_url(free_port()), max_network_retries=0)
    with pytest.raises(ProviderUnavailable):
        await provider.retrieve("pi_anything")


async def test_a_provider_that_stops_is_unavailable_until_it_is_back() -> None:
    async with running_localstripe() as server:
        provider = server.provider()
        _, intent = await new_intent(provider)
        server.stop()
        with pytest.raises(ProviderUnavailable):
            await provider.retrieve(intent.id)


def test_build_provider_points_at_the_configured_server() -> None:
    base = "http://127.0.0.1:8420"
    embedded_default = build_provider(Settings(_env_file=None, stripe_api_base=base))
    assert isinstance(embedded_default, StripeProvider) and embedded_default.name == "Stripe"
    with pytest.raises(RuntimeError, match="STRIPE_API_KEY"):
        build_provider(Settings(_env_file=None))
    real = build_provider(Settings(_env_file=None, stripe_api_key="sk_test_123"))
    assert isinstance(real, StripeProvider)


# --- localstripe's wrapper ------------------------------------------------------------------------------------


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[tuple[str, list[tuple[bytes, str]]]]:
    """An HTTP endpoint that keeps each request's raw body and Stripe-Signature header."""
    received: list[tuple[bytes, str]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers.get("Stripe-Signature", "")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, embedded.HOST, port)
    await site.start()
    try:
        yield f"http://{embedded.HOST}:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_signed_events_tell_of_authorization_and_void(
    localstripe: LocalStripe, webhook_receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    url, received = webhook_receiver
    secret = "whsec_" + uuid.uuid4().hex
    await embedded.register_webhook(localstripe.base_url, url=url, secret=secret, webhook_id=f"test-{uuid.uuid4()}")
    intent = await authorized(localstripe)
    await localstripe.provider().cancel(intent.id, idempotency_key=f"{intent.id}-cancel")

    def events_of_intent() -> list[str]:
        types = []
        for body, signature in received:
            event = stripe.Webhook.construct_event(body.decode(), signature, secret)  # raises if not signed so
            if event["data"]["object"]["id"] == intent.id:
                types.append(event["type"])
        return types

    async def both_arrived() -> None:
        assert events_of_intent() == ["payment_intent.amount_capturable_updated", "payment_intent.canceled"]

    await assert_eventually(both_arrived, timeout=30.0)
    body, signature = received[0]
    timestamp = signature.split(",")[0].removeprefix("t=")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert f"v1={expected}" in signature and json.loads(body)["object"] == "event"


async def test_the_state_survives_a_restart_in_its_own_file(tmp_path: Path) -> None:
    state = tmp_path / "localstripe.pickle"
    port = free_port()

    async def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(embedded.command(port, state), cwd=ROOT, stdout=subprocess.DEVNULL)
        await embedded.wait_until_up(embedded.base_url(port), 60.0, alive=lambda: proc.poll() is None)
        return proc

    proc = await start()
    try:
        provider = StripeProvider("sk_test_x", api_base=embedded.base_url(port), max_network_retries=0)
        order_id, intent = await new_intent(provider)
    finally:
        stop_process(proc)
    assert state.exists()

    proc = await start()
    try:
        assert (await provider.retrieve(intent.id)).order_id == order_id
        # the idempotency keys are kept too: the same create after the restart is the same intent
        replayed = await provider.create_intent(
            order_id=order_id, amount_minor=AMOUNT, currency="EUR", idempotency_key=f"order-{order_id}-intent"
        )
        assert replayed.id == intent.id
    finally:
        stop_process(proc)
