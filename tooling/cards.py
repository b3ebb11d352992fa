"""The shopper's side of a card payment, shared by the tests and the bench: what the shop's page does with a card.

Test cards (Stripe's numbers, as localstripe behaves through stack/localstripe.py): `GOOD_CARD` authorizes,
`DECLINED_CARD` is declined when charged (HTTP 402, the intent back to `requires_payment_method`),
`THREE_D_SECURE_CARD` stops at `requires_action` until the customer authenticates.
"""

from typing import Any

import httpx

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
THREE_D_SECURE_CARD = "4000000000003220"
PUBLISHABLE_KEY = "pk_test_localstripe"  # what the Stripe.js stand-in sends with a client secret


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
