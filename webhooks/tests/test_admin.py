"""Re-running webhook events from the admin: honest about what happened, keeping history."""

from __future__ import annotations

from django.contrib.messages import get_messages

from billing.models import BillingAccount
from billing.testing import stripe_event, subscription_object
from webhooks.models import WebhookEvent
from webhooks.services import MAX_ATTEMPTS
from webhooks.testing import post_stripe

LIST = "/admin/webhooks/webhookevent/"


def subscription() -> dict:
    return subscription_object(
        subscription_id="sub_a",
        customer="cus_alice",
        status="active",
        price_ids=["price_pro_flat", "price_pro_metered"],
        period_start=1_790_000_000,
        period_end=1_792_592_000,
    )


def failed_delivery(fake_stripe, alice, settings, capture) -> WebhookEvent:
    """A real delivery whose handler failed: Stripe answered 500 when asked for the state."""
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    fake_stripe.subscriptions["sub_a"] = subscription()
    fake_stripe.fail_next(500)
    body = stripe_event("customer.subscription.updated", subscription())
    with capture(execute=True):
        assert post_stripe(body, settings.STRIPE_WEBHOOK_SECRET).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("failed", 1)
    return event


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def history(event: WebhookEvent) -> list[tuple[int, str, str]]:
    return list(event.history.values_list("number", "trigger", "status"))


def test_a_failed_event_re_run_from_the_list_runs_now_and_says_it_worked(
    fake_stripe, alice, settings, operator, django_capture_on_commit_callbacks
):
    event = failed_delivery(fake_stripe, alice, settings, django_capture_on_commit_callbacks)

    response = operator.post(LIST, {"action": "rerun", "_selected_action": [str(event.pk)]})

    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == ("processed", 2, "")
    assert history(event) == [(1, "delivery", "failed"), (2, "operator", "processed")]
    assert event.history.get(number=1).error.startswith("APIError")
    assert BillingAccount.objects.get(user=alice).plan == "pro"
    assert texts(response) == [
        f"stripe customer.subscription.updated {event.event_id}: ran again: processed."
    ]


def test_a_re_run_that_fails_again_says_so_with_the_error(
    fake_stripe, alice, settings, operator, django_capture_on_commit_callbacks
):
    event = failed_delivery(fake_stripe, alice, settings, django_capture_on_commit_callbacks)
    fake_stripe.fail_next(500)

    response = operator.post(LIST, {"action": "rerun", "_selected_action": [str(event.pk)]})

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 2)
    assert history(event) == [(1, "delivery", "failed"), (2, "operator", "failed")]
    [message] = texts(response)
    assert "ran again and failed: APIError" in message
    assert "queued" not in message
    assert BillingAccount.objects.get(user=alice).plan == "free"


def test_a_processed_event_is_not_re_run_by_accident(
    fake_stripe, alice, settings, operator, django_capture_on_commit_callbacks
):
    event = failed_delivery(fake_stripe, alice, settings, django_capture_on_commit_callbacks)
    operator.post(LIST, {"action": "rerun", "_selected_action": [str(event.pk)]}, follow=True)
    asked = len(fake_stripe.requests)

    response = operator.post(LIST, {"action": "rerun", "_selected_action": [str(event.pk)]})

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert len(fake_stripe.requests) == asked
    assert texts(response) == [
        f"stripe customer.subscription.updated {event.event_id}: not re-run: it is processed "
        "(only failed, received or ignored events are)."
    ]
    page = operator.get(f"{LIST}{event.pk}/change/").content.decode()
    assert "/run/rerun_one/" not in page
    refused = operator.post(f"{LIST}{event.pk}/run/rerun_one/", follow=True)
    assert "does not apply" in refused.content.decode()


def test_the_button_on_an_event_page_re_runs_it_past_the_retry_limit(
    fake_stripe, alice, settings, operator, django_capture_on_commit_callbacks
):
    event = failed_delivery(fake_stripe, alice, settings, django_capture_on_commit_callbacks)
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=MAX_ATTEMPTS)
    page = operator.get(f"{LIST}{event.pk}/change/").content.decode()
    assert f"{LIST}{event.pk}/run/rerun_one/" in page
    assert "Attempts (history)" in page
    assert "&quot;customer.subscription.updated&quot;" in page  # the payload, pretty-printed

    response = operator.post(f"{LIST}{event.pk}/run/rerun_one/")

    assert response["Location"] == f"{LIST}{event.pk}/change/"
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", MAX_ATTEMPTS + 1)
    assert [trigger for _, trigger, _ in history(event)] == ["delivery", "operator"]


def test_events_cannot_be_deleted_or_edited_in_the_admin(
    fake_stripe, alice, settings, operator, django_capture_on_commit_callbacks
):
    event = failed_delivery(fake_stripe, alice, settings, django_capture_on_commit_callbacks)

    assert operator.post(f"{LIST}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    operator.post(f"{LIST}{event.pk}/change/", {"status": "processed", "attempts": "0"})
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)


def test_too_many_events_at_once_are_refused_without_running_any(operator):
    events = WebhookEvent.objects.bulk_create(
        WebhookEvent(
            provider="clerk", event_id=f"msg_{n}", type="user.nothing", payload={}, status="failed"
        )
        for n in range(21)
    )

    response = operator.post(
        LIST, {"action": "rerun", "_selected_action": [str(e.pk) for e in events]}
    )

    assert "Select at most 20 events" in texts(response)[0]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"failed"}
