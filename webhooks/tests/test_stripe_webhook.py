from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.models import BillingAccount
from billing.services import subscription_apply
from billing.testing import stripe_event, subscription_object
from webhooks.models import WebhookEvent
from webhooks.testing import post_stripe

START, END = 1_790_000_000, 1_792_592_000
STARTER = ["price_starter_flat", "price_starter_metered"]
PRO = ["price_pro_flat", "price_pro_metered"]


@pytest.fixture
def deliver(db, fake_stripe, settings, django_capture_on_commit_callbacks):
    """Deliver signed events and run what they queue, as a worker would after commit."""

    def send(body: str):
        with django_capture_on_commit_callbacks(execute=True):
            return post_stripe(body, settings.STRIPE_WEBHOOK_SECRET)

    return send


def serve_subscription(fake, sub_id="sub_a", customer="cus_alice", **overrides):
    fields: dict[str, Any] = {
        "status": "active",
        "price_ids": STARTER,
        "period_start": START,
        "period_end": END,
    }
    fake.subscriptions[sub_id] = subscription_object(
        subscription_id=sub_id, customer=customer, **(fields | overrides)
    )
    return fake.subscriptions[sub_id]


def checkout_completed(user, sub_id="sub_a", customer="cus_alice", event_id=None):
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(user.pk),
        "customer": customer,
        "subscription": sub_id,
    }
    return stripe_event("checkout.session.completed", session, event_id)


def state(account: BillingAccount) -> tuple:
    account.refresh_from_db()
    return (
        account.plan,
        account.subscription_status,
        account.stripe_subscription_id,
        account.current_period_start,
        account.current_period_end,
        account.cancel_at_period_end,
    )


def test_a_completed_checkout_upgrades_the_plan(deliver, fake_stripe, alice):
    serve_subscription(fake_stripe)

    response = deliver(checkout_completed(alice))

    assert response.status_code == 200
    assert response.json() == {"received": True}
    account = BillingAccount.objects.get(user=alice)
    assert state(account) == (
        "starter",
        "active",
        "sub_a",
        datetime.fromtimestamp(START, UTC),
        datetime.fromtimestamp(END, UTC),
        False,
    )
    assert account.stripe_customer_id == "cus_alice"
    event = WebhookEvent.objects.get()
    assert (event.provider, event.type, event.status, event.attempts) == (
        "stripe",
        "checkout.session.completed",
        "processed",
        1,
    )
    assert event.processed_at is not None
    assert len(fake_stripe.requests_to("GET", "/v1/subscriptions/sub_a")) == 1


def test_it_refuses_a_tampered_body(fake_stripe, alice, settings):
    body = checkout_completed(alice)
    forged = body.replace(str(alice.pk), "00000000-0000-0000-0000-000000000000")

    response = post_stripe(forged, settings.STRIPE_WEBHOOK_SECRET, signed=body)

    assert response.status_code == 400
    assert "error" in response.json()
    assert not WebhookEvent.objects.exists()


def test_it_refuses_a_wrong_secret(fake_stripe, alice):
    response = post_stripe(checkout_completed(alice), "whsec_someone_else")

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_refuses_a_stale_signature(fake_stripe, alice, settings):
    stale = int(time.time()) - 301

    response = post_stripe(
        checkout_completed(alice), settings.STRIPE_WEBHOOK_SECRET, timestamp=stale
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_refuses_a_missing_signature(fake_stripe, alice, anon_client):
    response = anon_client.post(
        "/api/webhooks/stripe", checkout_completed(alice), content_type="application/json"
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_refuses_when_not_configured(fake_stripe, alice, settings):
    secret = settings.STRIPE_WEBHOOK_SECRET
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = post_stripe(checkout_completed(alice), secret)

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()


def test_a_redelivered_event_is_acknowledged_and_processed_once(deliver, fake_stripe, alice):
    serve_subscription(fake_stripe)
    body = checkout_completed(alice, event_id="evt_same")

    responses = [deliver(body) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json() == {"received": True} for r in responses)
    event = WebhookEvent.objects.get()
    assert (event.event_id, event.status, event.attempts) == ("evt_same", "processed", 1)
    assert len(fake_stripe.requests_to("GET", "/v1/subscriptions/sub_a")) == 1


def test_unhandled_types_are_acknowledged_and_ignored(deliver):
    response = deliver(stripe_event("customer.created", {"id": "cus_x", "object": "customer"}))

    assert response.json() == {"received": True}
    assert WebhookEvent.objects.get().status == "ignored"


def test_a_paid_invoice_refreshes_its_subscription(deliver, fake_stripe, alice):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    serve_subscription(fake_stripe, status="past_due", price_ids=PRO)
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_alice",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_a", "metadata": {}},
        },
    }

    deliver(stripe_event("invoice.payment_failed", invoice))

    account = BillingAccount.objects.get(user=alice)
    assert (account.plan, account.subscription_status) == ("pro", "past_due")


LIFECYCLE: list[tuple[str, dict[str, Any]]] = [
    ("checkout.session.completed", {}),
    ("customer.subscription.created", {"status": "incomplete"}),
    ("invoice.paid", {}),
    ("customer.subscription.updated", {"status": "active"}),
    ("customer.subscription.updated", {"status": "active", "price_ids": PRO}),
    ("invoice.payment_failed", {}),
    ("customer.subscription.updated", {"status": "past_due"}),
    ("customer.subscription.updated", {"status": "active", "cancel_at_period_end": True}),
]


def lifecycle_events(user, sub_id: str, customer: str) -> list[str]:
    """One subscription's events; each carries the subscription as it was then."""
    events = []
    for event_type, fields in LIFECYCLE:
        if event_type == "checkout.session.completed":
            events.append(checkout_completed(user, sub_id, customer))
        elif event_type.startswith("invoice."):
            details = {"subscription_details": {"subscription": sub_id}}
            events.append(stripe_event(event_type, {"id": f"in_{sub_id}", "parent": details}))
        else:
            defaults: dict[str, Any] = {
                "price_ids": STARTER,
                "period_start": START,
                "period_end": END,
            }
            snapshot = subscription_object(
                subscription_id=sub_id, customer=customer, **(defaults | fields)
            )
            events.append(stripe_event(event_type, snapshot))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_lifecycle_events_end_in_the_same_state_as_in_order(
    deliver, fake_stripe, alice, bob, seed
):
    final = {"status": "active", "price_ids": PRO, "cancel_at_period_end": True}
    for user, sub_id, customer in [(alice, "sub_a", "cus_alice"), (bob, "sub_b", "cus_bob")]:
        BillingAccount.objects.create(user=user, stripe_customer_id=customer)
        serve_subscription(fake_stripe, sub_id, customer, **final)
    in_order = lifecycle_events(alice, "sub_a", "cus_alice")
    shuffled = lifecycle_events(bob, "sub_b", "cus_bob")
    random.Random(seed).shuffle(shuffled)

    for body in in_order + shuffled:
        assert deliver(body).status_code == 200

    alice_state = state(BillingAccount.objects.get(user=alice))
    bob_state = state(BillingAccount.objects.get(user=bob))
    assert alice_state[0:2] == ("pro", "active")
    assert alice_state[5] is True
    assert bob_state[:2] + bob_state[3:] == alice_state[:2] + alice_state[3:]
    events = WebhookEvent.objects.all()
    assert events.count() == 2 * len(LIFECYCLE)
    assert {(e.status, e.attempts) for e in events} == {("processed", 1)}


def test_a_canceled_subscription_returns_the_user_to_free(deliver, fake_stripe, alice):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    subscription = serve_subscription(fake_stripe, status="canceled")

    deliver(stripe_event("customer.subscription.deleted", subscription))

    account = BillingAccount.objects.get(user=alice)
    assert (account.plan, account.subscription_status) == ("free", "canceled")


def test_an_older_fetch_never_overwrites_newer_state(fake_stripe, alice):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    now = datetime.now(UTC)
    newer = serve_subscription(fake_stripe, status="active", price_ids=PRO)
    older = subscription_object(
        subscription_id="sub_a",
        customer="cus_alice",
        status="incomplete",
        price_ids=STARTER,
        period_start=START,
        period_end=END,
    )

    subscription_apply(subscription=newer, fetched_at=now)
    subscription_apply(subscription=older, fetched_at=now - timedelta(seconds=1))

    account = BillingAccount.objects.get(user=alice)
    assert (account.plan, account.subscription_status) == ("pro", "active")


def test_a_late_event_about_an_ended_subscription_keeps_the_current_one(
    deliver, fake_stripe, alice
):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    serve_subscription(fake_stripe, "sub_new", status="active", price_ids=PRO)
    old = serve_subscription(fake_stripe, "sub_old", status="canceled")
    deliver(checkout_completed(alice, "sub_new"))

    deliver(stripe_event("customer.subscription.deleted", old))

    account = BillingAccount.objects.get(user=alice)
    assert (account.plan, account.stripe_subscription_id) == ("pro", "sub_new")
