"""Payments through a real provider: the API and a worker (worker.py's factory) on real PostgreSQL, a real Temporal
dev server and a real localstripe. The customer's card goes to localstripe as the shop's page sends it; the order
learns of it only through hints (the shop's return, a signed webhook, the reconciliation), each re-reading the
PaymentIntent from the provider."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from contracts.order import ReconcileIntents
from services.payment.provider import IntentStatus, ProviderIntent
from services.payment.stripe_provider import LOCALSTRIPE_API_KEY, StripeProvider
from stack.settings import Settings
from tests.conftest import asgi_client
from tests.demo import ARM_BLK
from tests.eventually import assert_eventually
from tests.http import Json, ok, order_status, place, refused
from tests.operator import OPERATOR_HEADERS
from tests.provider import GOOD_CARD, LocalStripe, authorized_elsewhere, confirm_with_card, intent_event, signed
from worker import create_worker, ensure_reconcile_schedule
from workflows.reconcile import RECONCILE_SCHEDULE_ID, ReconcileWorkflow

WEBHOOK_SECRET = "whsec_test_" + "s" * 24


@pytest.fixture
async def provider(localstripe: LocalStripe) -> StripeProvider:
    return localstripe.provider()


@pytest.fixture
async def stripe_settings(order_settings: Settings, localstripe: LocalStripe) -> Settings:
    return order_settings.model_copy(
        update={
            "stripe_api_base": localstripe.base_url,
            "stripe_api_key": SecretStr(LOCALSTRIPE_API_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )


@pytest.fixture
async def shop(
    stripe_settings: Settings,
    dev_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: StripeProvider,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API (customer's calls: no operator token) with its worker, both talking to the localstripe."""
    async with create_worker(dev_env.client, stripe_settings, sessionmaker, provider=provider):
        app = create_app(stripe_settings, payment_provider=provider)
        async with app.router.lifespan_context(app), asgi_client(app, operator=False) as client:
            yield client


async def _stripe_payment(shop: httpx.AsyncClient, order: Json) -> Json:
    payment: Json = ok(await shop.post("/api/payments", json={"orderId": order["id"], "provider": "Stripe"}), 201)
    return payment


async def _paid(shop: httpx.AsyncClient, order: Json) -> None:
    async def paid() -> None:
        assert await order_status(shop, order) == "Paid"

    await assert_eventually(paid)


async def _payments(shop: httpx.AsyncClient, order: Json) -> list[Json]:
    payments: list[Json] = ok(await shop.get(f"/api/orders/{order['id']}/payments", headers=OPERATOR_HEADERS))
    return payments


async def _intent(provider: StripeProvider, payment: Json) -> ProviderIntent:
    return await provider.retrieve(payment["providerId"])


async def _webhook(shop: httpx.AsyncClient, event: Json) -> Json:
    body, headers = signed(event, WEBHOOK_SECRET)
    answer: Json = ok(await shop.post("/api/webhooks/stripe", content=body, headers=headers))
    return answer


async def test_an_authorization_of_the_total_pays_the_order_and_shipping_captures_it(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    order = await place(shop, (ARM_BLK, 2))
    payment = await _stripe_payment(shop, order)
    assert payment["providerId"].startswith("pi_") and payment["clientSecret"].startswith(payment["providerId"])
    assert (payment["status"], payment["amountMinor"], payment["provider"]) == ("Pending", 13800, "Stripe")
    again = await _stripe_payment(shop, order)
    assert (again["id"], again["providerId"]) == (payment["id"], payment["providerId"])  # one open intent per order

    confirmed = await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)
    assert confirmed["status"] == "requires_capture"
    assert await order_status(shop, order) == "PendingPayment"  # nobody told us yet
    ok(await shop.post(f"/api/payments/{payment['id']}/refresh"))  # the shop's return
    await _paid(shop, order)
    [recorded] = await _payments(shop, order)
    assert (recorded["status"], recorded["authorizedMinor"], recorded["capturedMinor"]) == ("Succeeded", 13800, 0)

    shipped = ok(await shop.post(f"/api/orders/{order['id']}/mark-shipped", headers=OPERATOR_HEADERS))

    assert shipped["status"] == "Shipped"
    intent = await _intent(provider, payment)
    assert intent.status is IntentStatus.SUCCEEDED and intent.amount_received_minor == 13800
    [recorded] = await _payments(shop, order)
    assert recorded["capturedMinor"] == 13800 and recorded["refundedMinor"] == 0


async def test_cancelling_a_paid_order_voids_its_authorization(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)
    await _webhook(shop, intent_event(payment["providerId"]))
    await _paid(shop, order)

    ok(await shop.post(f"/api/orders/{order['id']}/cancel"))

    assert (await _intent(provider, payment)).status is IntentStatus.CANCELED
    [recorded] = await _payments(shop, order)
    assert (recorded["status"], recorded["capturedMinor"]) == ("Refunded", 0)


async def test_cancelling_after_the_capture_refunds_it(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    """The provider captured (a worker killed before it recorded the capture, say): cancelling refunds it."""
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)
    ok(await shop.post(f"/api/payments/{payment['id']}/refresh"))
    await _paid(shop, order)
    await provider.capture(payment["providerId"], amount_minor=6900, idempotency_key=f"test-{uuid.uuid4()}")

    ok(await shop.post(f"/api/orders/{order['id']}/cancel"))

    intent = await _intent(provider, payment)
    assert (intent.amount_received_minor, intent.amount_refunded_minor) == (6900, 6900)
    [recorded] = await _payments(shop, order)
    assert (recorded["status"], recorded["capturedMinor"], recorded["refundedMinor"]) == ("Refunded", 6900, 6900)


async def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    shop: httpx.AsyncClient, localstripe: LocalStripe
) -> None:
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)
    body, headers = signed(intent_event(payment["providerId"]), "whsec_not_ours")

    refused(await shop.post("/api/webhooks/stripe", content=body, headers=headers), 400, "invalid_signature")
    refused(await shop.post("/api/webhooks/stripe", content=body), 400, "invalid_signature")

    assert await order_status(shop, order) == "PendingPayment"
    assert (await _payments(shop, order))[0]["status"] == "Pending"


async def test_an_authorization_for_an_order_that_is_not_ours_is_left_alone(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    """Another application on the same provider account, an `order_id` in its metadata that names none of our
    orders: its authorization is its own, and a webhook about it changes nothing."""
    intent_id = await authorized_elsewhere(localstripe.base_url, str(uuid.uuid4()))

    assert (await _webhook(shop, intent_event(intent_id)))["duplicate"] is False

    assert (await provider.retrieve(intent_id)).status is IntentStatus.REQUIRES_CAPTURE


async def test_the_same_event_twice_has_one_effect_and_irrelevant_events_none(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)
    event = intent_event(payment["providerId"])

    assert (await _webhook(shop, event))["duplicate"] is False
    assert (await _webhook(shop, event))["duplicate"] is True
    assert (await _webhook(shop, intent_event("pi_not_ours")))["duplicate"] is False
    assert (await _webhook(shop, {**intent_event("x", "customer.created"), "data": {"object": {}}}))[
        "duplicate"
    ] is False

    await _paid(shop, order)
    [recorded] = await _payments(shop, order)
    assert recorded["status"] == "Succeeded"
    assert (await _intent(provider, payment)).status is IntentStatus.REQUIRES_CAPTURE


async def test_an_authorization_of_another_amount_is_voided_and_the_order_keeps_waiting(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    async with httpx.AsyncClient(base_url=localstripe.base_url, auth=(LOCALSTRIPE_API_KEY, "")) as stripe_api:
        changed = await stripe_api.post(f"/v1/payment_intents/{payment['providerId']}", data={"amount": "100"})
        assert changed.status_code == 200, changed.text  # the customer's side changed the amount before paying
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)

    await _webhook(shop, intent_event(payment["providerId"]))

    async def voided() -> None:
        assert (await _intent(provider, payment)).status is IntentStatus.CANCELED

    await assert_eventually(voided)
    [recorded] = await _payments(shop, order)
    assert recorded["status"] == "Cancelled" and "another amount" in recorded["failureReason"]
    assert await order_status(shop, order) == "PendingPayment"
    fresh = await _stripe_payment(shop, order)  # the customer can pay again, with a new intent
    assert fresh["providerId"] != payment["providerId"]


async def test_an_authorization_whose_news_was_lost_is_voided_when_the_order_expires(
    shop: httpx.AsyncClient, localstripe: LocalStripe, provider: StripeProvider
) -> None:
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)  # no webhook, no return

    ok(await shop.post(f"/api/orders/{order['id']}/expire", headers=OPERATOR_HEADERS))

    assert (await _intent(provider, payment)).status is IntentStatus.CANCELED
    [recorded] = await _payments(shop, order)
    assert recorded["status"] == "Cancelled"
    ok(await shop.post(f"/api/payments/{payment['id']}/refresh"))  # a late return changes nothing
    assert await order_status(shop, order) == "Expired"


async def test_the_reconciliation_pays_an_order_whose_webhook_never_came(
    shop: httpx.AsyncClient,
    localstripe: LocalStripe,
    dev_env: WorkflowEnvironment,
    stripe_settings: Settings,
) -> None:
    order = await place(shop, (ARM_BLK, 1))
    payment = await _stripe_payment(shop, order)
    await confirm_with_card(localstripe.base_url, payment["clientSecret"], GOOD_CARD)

    told = await dev_env.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileIntents(),
        id=f"reconcile-test-{uuid.uuid4()}",
        task_queue=stripe_settings.temporal_task_queue,
    )

    assert told >= 1
    await _paid(shop, order)


async def test_a_card_number_posted_to_the_shop_pays_nothing(shop: httpx.AsyncClient) -> None:
    order = await place(shop, (ARM_BLK, 1))
    for headers in ({}, OPERATOR_HEADERS):
        page = await shop.post(f"/orders/{order['id']}/pay", data={"card_number": GOOD_CARD}, headers=headers)
        assert page.status_code == 200 and 'id="card-form"' in page.text
        assert "/js.stripe.com/v3/" in page.text
    assert await order_status(shop, order) == "PendingPayment"
    payments: list[Any] = await _payments(shop, order)
    assert [p["status"] for p in payments] == ["Pending"]  # one open intent, nothing authorized


async def test_an_orders_payments_are_the_operators(shop: httpx.AsyncClient) -> None:
    order = await place(shop, (ARM_BLK, 1))
    refused(await shop.get(f"/api/orders/{order['id']}/payments"), 401, "unauthorized")
    refused(await shop.get(f"/api/orders/{uuid.uuid4()}/payments", headers=OPERATOR_HEADERS), 404, "order_not_found")


async def test_the_reconcile_schedule_is_created_once_and_follows_the_settings(
    dev_env: WorkflowEnvironment, stripe_settings: Settings
) -> None:
    client = dev_env.client
    first = stripe_settings.model_copy(update={"reconcile_interval_seconds": 60})
    await ensure_reconcile_schedule(client, first)
    await ensure_reconcile_schedule(client, first)  # a second worker start: the same schedule
    later = stripe_settings.model_copy(update={"reconcile_interval_seconds": 30})
    await ensure_reconcile_schedule(client, later)

    described = await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).describe()

    assert [spec.every for spec in described.schedule.spec.intervals] == [timedelta(seconds=30)]
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "ReconcileWorkflow"
    await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).delete()
