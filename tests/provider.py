"""A real localstripe for the tests that need a payment provider, and the shopper's side of a payment.

- `localstripe` (a session fixture, registered in tests/conftest.py): one localstripe process, state in memory,
  on a free port; `LocalStripe.provider()` is a `StripeProvider` pointed at it;
- `running_localstripe()`: one of your own (to stop it, say), stopped when the block ends;
- the test cards and `confirm_with_card`, the shopper's side of a payment (tooling/cards.py, which the bench
  shares).
- `intent_event(intent_id, type)` and `signed(event, secret)`: a webhook as Stripe signs and delivers it.
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
from tooling.cards import DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD, confirm_with_card
from tooling.processes import ROOT, free_port

__all__ = [
    "DECLINED_CARD",
    "GOOD_CARD",
    "THREE_D_SECURE_CARD",
    "LocalStripe",
    "authorized_elsewhere",
    "confirm_with_card",
    "running_localstripe",
]

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


@pytest.fixture(scope="session")
async def localstripe() -> AsyncIterator[LocalStripe]:
    """One localstripe for the session: each test makes its own intents, so they never see each other's."""
    async with running_localstripe() as server:
        yield server


async def authorized_elsewhere(base_url: str, order_id: str, amount_minor: int = 100) -> str:
    """An intent another client of the provider account made (not through our API), the order id in its metadata,
    authorized with the good card; its id."""
    async with httpx.AsyncClient(base_url=base_url, auth=(LOCALSTRIPE_API_KEY, "")) as stripe_api:
        created = await stripe_api.post(
            "/v1/payment_intents",
            data={
                "amount": str(amount_minor),
                "currency": "usd",
                "capture_method": "manual",
                "metadata[order_id]": order_id,
            },
        )
    assert created.status_code == 200, created.text
    await confirm_with_card(base_url, created.json()["client_secret"], GOOD_CARD)
    intent_id: str = created.json()["id"]
    return intent_id


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
