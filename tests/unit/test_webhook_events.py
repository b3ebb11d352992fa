"""Which PaymentIntent a provider's event is about (pure), and a signature that does not verify (the SDK's own check
over the raw body) refused as `invalid_signature`."""

import hashlib
import hmac
import json
import time

import pytest

from services.payment.webhooks import InvalidSignatureError, intent_of, verify_event

SECRET = "whsec_unit"


def _signature(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_the_intent_an_event_is_about() -> None:
    assert intent_of("payment_intent.amount_capturable_updated", {"id": "pi_1"}) == "pi_1"
    assert intent_of("charge.refunded", {"id": "ch_1", "payment_intent": "pi_2"}) == "pi_2"
    assert intent_of("customer.created", {"id": "cus_1"}) is None
    assert intent_of("payment_intent.created", {"id": 12}) is None


def test_a_signed_event_verifies_over_its_raw_body() -> None:
    body = json.dumps({"id": "evt_1", "object": "event", "type": "charge.captured", "data": {"object": {
        "id": "ch_1", "payment_intent": "pi_9"}}}).encode()  # fmt: skip
    event = verify_event(body, _signature(body), SECRET)
    assert (event.id, event.type, event.intent_id) == ("evt_1", "charge.captured", "pi_9")


@pytest.mark.parametrize(
    "signature",
    [None, "", "t=1,v1=00", "garbage"],
)
def test_a_missing_or_malformed_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_event(b"{}", signature, SECRET)


def test_another_secret_a_changed_body_or_an_old_timestamp_is_refused() -> None:
    body = b'{"id": "evt_1", "object": "event", "type": "x", "data": {"object": {}}}'
    for signature, payload in (
        (_signature(body, secret="whsec_other"), body),
        (_signature(body), body.replace(b"evt_1", b"evt_2")),
        (_signature(body, at=int(time.time()) - 3600), body),  # beyond the SDK's 300 s tolerance
    ):
        with pytest.raises(InvalidSignatureError) as refused:
            verify_event(payload, signature, SECRET)
        assert refused.value.code == "invalid_signature"
