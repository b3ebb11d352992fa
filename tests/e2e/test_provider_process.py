"""The launcher's payment provider: localstripe beside the stack, its address and secret given to the API and the
workers, its state kept when a drill stops it and starts it again."""

import uuid

import pytest

from services.payment.provider import IntentStatus, ProviderUnavailable
from services.payment.stripe_provider import build_provider
from tests.e2e.processes import Stack
from tests.provider import GOOD_CARD, confirm_with_card

pytestmark = pytest.mark.e2e


async def test_the_provider_keeps_its_state_across_a_stop(stack: Stack) -> None:
    env = stack.env()
    assert env["STRIPE_API_BASE"] == stack.localstripe_url and env["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    provider = build_provider(stack.settings())  # what the API and the workers build from that environment
    order_id = uuid.uuid4()
    intent = await provider.create_intent(
        order_id=order_id, amount_minor=4_200, currency="EUR", idempotency_key=f"order-{order_id}-intent"
    )
    assert intent.client_secret is not None
    await confirm_with_card(stack.localstripe_url, intent.client_secret, GOOD_CARD)

    stack.stop_localstripe()
    with pytest.raises(ProviderUnavailable):
        await provider.retrieve(intent.id)
    stack.check_alive()  # a provider stopped on purpose is no failure of the stack
    await stack.ensure_running()

    again = await provider.retrieve(intent.id)
    assert (again.status, again.order_id, again.amount_capturable_minor) == (
        IntentStatus.REQUIRES_CAPTURE,
        order_id,
        4_200,
    )
