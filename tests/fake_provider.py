"""An in-memory payment provider implementing the port (services/payment/provider.py) with Stripe's rules for
manual capture: for tests that isolate our ledger and activities from the network. The provider itself is tested
against a real localstripe (tests/api)."""

import dataclasses
import uuid
from uuid import UUID

from services.payment.provider import IntentStatus, ProviderIntent


class FakeProvider:
    name = "Stripe"

    def __init__(self) -> None:
        self.intents: dict[str, ProviderIntent] = {}
        self.created: dict[str, str] = {}  # idempotency key -> intent id
        self.moves: list[tuple[str, str, int]] = []  # (call, intent id, amount): what moved money or voided

    async def create_intent(
        self, *, order_id: UUID, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderIntent:
        if idempotency_key in self.created:
            return self.intents[self.created[idempotency_key]]
        intent_id = f"pi_{uuid.uuid4().hex[:24]}"
        self.created[idempotency_key] = intent_id
        self.intents[intent_id] = ProviderIntent(
            id=intent_id,
            status=IntentStatus.REQUIRES_PAYMENT_METHOD,
            amount_minor=amount_minor,
            currency=currency.upper(),
            amount_capturable_minor=0,
            amount_received_minor=0,
            amount_refunded_minor=0,
            order_id=order_id,
            client_secret=f"{intent_id}_secret_fake",
        )
        return self.intents[intent_id]

    def confirm(self, intent_id: str) -> ProviderIntent:
        """The customer's card is authorized for the intent's amount (what Stripe.js's confirmation does)."""
        intent = self.intents[intent_id]
        return self._set(intent, status=IntentStatus.REQUIRES_CAPTURE, amount_capturable_minor=intent.amount_minor)

    async def retrieve(self, intent_id: str) -> ProviderIntent:
        return self.intents[intent_id]

    async def capture(self, intent_id: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        intent = self.intents[intent_id]
        if intent.status is IntentStatus.SUCCEEDED:
            return intent
        if intent.status is not IntentStatus.REQUIRES_CAPTURE or amount_minor > intent.amount_capturable_minor:
            raise ValueError(f"cannot capture {amount_minor} of {intent}")
        self.moves.append(("capture", intent_id, amount_minor))
        return self._set(
            intent, status=IntentStatus.SUCCEEDED, amount_capturable_minor=0, amount_received_minor=amount_minor
        )

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> ProviderIntent:
        intent = self.intents[intent_id]
        if intent.status is IntentStatus.CANCELED:
            return intent
        if intent.status is IntentStatus.SUCCEEDED:
            raise ValueError(f"cannot cancel a captured intent {intent_id}")
        self.moves.append(("cancel", intent_id, 0))
        return self._set(intent, status=IntentStatus.CANCELED, amount_capturable_minor=0)

    async def refund(self, intent_id: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        intent = self.intents[intent_id]
        if idempotency_key in self.created:
            return intent
        self.created[idempotency_key] = intent_id
        if intent.amount_refunded_minor + amount_minor > intent.amount_received_minor:
            raise ValueError(f"cannot refund {amount_minor} of {intent}")
        self.moves.append(("refund", intent_id, amount_minor))
        return self._set(intent, amount_refunded_minor=intent.amount_refunded_minor + amount_minor)

    def _set(self, intent: ProviderIntent, **changes: object) -> ProviderIntent:
        self.intents[intent.id] = dataclasses.replace(intent, **changes)  # type: ignore[arg-type]
        return self.intents[intent.id]
