"""A real localstripe for the tests that need a payment provider, and the shopper's side of a payment.

- `localstripe` (a session fixture, registered in tests/conftest.py): one localstripe process, state in memory,
  on a free port; `LocalStripe.provider()` is a `StripeProvider` pointed at it;
- `running_localstripe()`: one of your own (to stop it, say), stopped when the block ends;
- `confirm_with_card(base_url, client_secret, card)`: what the shop's page does with a card — the card goes to
  the provider, never to us — and, for a 3-D Secure card, the customer's answer to the challenge;
- `intent_event(intent_id, type)` and `signed(event, secret)`: a webhook as Stripe signs and delivers it.

Test cards (Stripe's numbers, as localstripe behaves through stack/localstripe.py): `GOOD_CARD` authorizes,
`DECLINED_CARD` is declined when charged (HTTP 402, the intent back to `requires_payment_method`),
`THREE_D_SECURE_CARD` stops at `requires_action` until the customer authenticates.
"""

import hashlib
import hmac
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.payment.stripe_provider import LOCALSTRIPE_API_KEY, StripeProvider
from stack import localstripe as embedded
from stack.supervisor import stop_process
from tooling.processes import ROOT, free_port

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
THREE_D_SECURE_CARD = "4000000000003220"
PUBLISHABLE_KEY = "pk_test_localstripe"  # what the Stripe.js stand-in sends with a client secret
STARTUP_TIMEOUT = 60.0


@dataclass
class LocalStripe:
    """A localstripe process of the tests, state in memory."""

    port: int
    proc: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return embedded.base_url(self.port)

    def provider(self) -> StripeProvider:
        return StripeProvider(LOCALSTRIPE_API_KEY, api_base=self.base_url, max_network_retries=0)

    def stop(self) -> None:
        stop_process(self.proc)


@asynccontextmanager
async def running_localstripe() -> AsyncIterator[LocalStripe]:
    port = free_port()
    proc = subprocess.Popen(embedded.command(port, None), cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True)
    server = LocalStripe(port, proc)
    try:
        await embedded.wait_until_up(server.base_url, STARTUP_TIMEOUT, alive=lambda: proc.poll() is None)
        yield server
    finally:
        server.stop()


async def confirm_with_card(
    base_url: str, client_secret: str, card_number: str, *, authenticate: bool = True
) -> dict[str, Any]:
    """Pay an intent with a card as the shop's page does in the browser; the intent as the provider answers.

    The same calls as `stripe.confirmCardPayment(clientSecret, {payment_method: {card}})` of the Stripe.js that
    localstripe serves (stack/localstripe_confirm.js): the card, the publishable key and the client secret go to
    the provider — no secret key, nothing through our server. A declined card answers 402 and leaves the intent
    `requires_payment_method` (confirm again with another card); a 3-D Secure card stops at `requires_action`,
    and the customer then completes the challenge (`authenticate=True`) or fails it.
    """
    intent_id = client_secret.split("_secret_")[0]
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as browser:
        card = {"number": card_number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        confirmed = await browser.post(
            f"/v1/payment_intents/{intent_id}/confirm",
            json={
                "key": PUBLISHABLE_KEY,
                "client_secret": client_secret,
                "payment_method_data": {"type": "card", "card": card},
            },
        )
        if confirmed.status_code == 402:  # declined: the intent is back to waiting for a payment method
            return {**confirmed.json()["error"], "status": "requires_payment_method"}
        confirmed.raise_for_status()
        intent: dict[str, Any] = confirmed.json()
        if intent["status"] == "requires_action":
            answered = await browser.post(
                f"/v1/payment_intents/{intent_id}/_authenticate",
                params={"success": "true" if authenticate else "false"},
                json={"key": PUBLISHABLE_KEY, "client_secret": client_secret},
            )
            answered.raise_for_status()
            intent = answered.json()
        return intent


@pytest.fixture(scope="session")
async def localstripe() -> AsyncIterator[LocalStripe]:
    """One localstripe for the session: each test makes its own intents, so they never see each other's."""
    async with running_localstripe() as server:
        yield server


def intent_event(intent_id: str, event_type: str = "payment_intent.amount_capturable_updated") -> dict[str, Any]:
    """A Stripe event about a PaymentIntent, with a fresh event id (the handler re-reads the intent it names)."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "data": {"object": {"id": intent_id, "object": "payment_intent"}},
    }


def signed(event: dict[str, Any], secret: str, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """An event as Stripe delivers it: the raw body and its `Stripe-Signature` (`t=<ts>,v1=<HMAC-SHA256 of
    "<ts>.<body>" with the endpoint's secret>`), to POST as is."""
    body = json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={signature}", "Content-Type": "application/json"}
