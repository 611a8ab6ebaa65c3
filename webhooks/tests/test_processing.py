from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from billing.models import BillingAccount
from billing.testing import stripe_event, subscription_object
from webhooks.models import WebhookEvent
from webhooks.services import MAX_ATTEMPTS, webhook_event_process, webhook_events_requeue_stale
from webhooks.testing import post_stripe


def subscription_updated(sub_id: str = "sub_a") -> dict:
    snapshot = subscription_object(
        subscription_id=sub_id,
        customer="cus_alice",
        status="active",
        price_ids=["price_pro_flat", "price_pro_metered"],
        period_start=1_790_000_000,
        period_end=1_792_592_000,
    )
    return {
        "id": "evt_1",
        "type": "customer.subscription.updated",
        "data": {"object": snapshot},
    }


def stored(payload: dict, **fields) -> WebhookEvent:
    return WebhookEvent.objects.create(
        provider="stripe",
        event_id=payload["id"],
        type=payload["type"],
        payload=payload,
        **fields,
    )


def age(event: WebhookEvent, minutes: int) -> None:
    past = timezone.now() - timedelta(minutes=minutes)
    WebhookEvent.objects.filter(pk=event.pk).update(created_at=past, updated_at=past)


def test_a_failing_handler_marks_the_event_failed_and_still_acknowledges(
    fake_stripe, alice, settings, django_capture_on_commit_callbacks
):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    body = stripe_event("customer.subscription.updated", subscription_updated()["data"]["object"])
    fake_stripe.fail_next(500)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_stripe(body, settings.STRIPE_WEBHOOK_SECRET)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("failed", 1)
    assert event.error.startswith("APIError")
    assert BillingAccount.objects.get(user=alice).plan == "free"


def test_stale_and_failed_events_are_queued_again(fake_stripe, alice):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    payload = subscription_updated()
    fake_stripe.subscriptions["sub_a"] = payload["data"]["object"]
    never_processed = stored(payload)
    stored(payload | {"id": "evt_fresh"})
    failed = stored(payload | {"id": "evt_failed"}, status="failed", attempts=1)
    worn_out = stored(payload | {"id": "evt_worn"}, status="failed", attempts=MAX_ATTEMPTS)
    dead_worker = stored(payload | {"id": "evt_dead"}, status="processing", attempts=1)
    for event in (never_processed, failed, worn_out, dead_worker):
        age(event, minutes=10)

    assert webhook_events_requeue_stale() == 3

    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses == {
        "evt_1": "processed",
        "evt_fresh": "received",
        "evt_failed": "processed",
        "evt_worn": "failed",
        "evt_dead": "processed",
    }
    assert BillingAccount.objects.get(user=alice).plan == "pro"


def test_an_event_being_processed_is_not_taken_twice(fake_stripe, alice):
    event = stored(subscription_updated(), status="processing", attempts=1)

    assert webhook_event_process(event_pk=event.pk) is None
    assert fake_stripe.requests == []


def test_the_admin_lists_billing_and_webhook_records(admin_client, alice):
    stored(subscription_updated())
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")

    for url in (
        "/admin/webhooks/webhookevent/",
        "/admin/billing/billingaccount/?q=alice",
        "/admin/billing/meterreport/",
    ):
        assert admin_client.get(url).status_code == 200
