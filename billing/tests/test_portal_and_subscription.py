from __future__ import annotations

from datetime import UTC, datetime

from billing.models import BillingAccount
from billing.selectors import month_bounds

PORTAL = "/api/billing/portal"
SUBSCRIPTION = "/api/billing/subscription"


def test_it_opens_the_billing_portal(fake_stripe, alice, alice_client, settings):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")

    response = alice_client.post(PORTAL)

    assert response.status_code == 200
    assert response.json()["data"]["url"].startswith("https://billing.stripe.test/p/session/")
    (request,) = fake_stripe.requests_to("POST", "/v1/billing_portal/sessions")
    assert request.params == {"customer": "cus_alice", "return_url": settings.BILLING_RETURN_URL}
    assert request.idempotency_key.startswith(f"specgate:portal:{alice.pk}:")


def test_the_portal_needs_a_billing_account(fake_stripe, alice_client):
    response = alice_client.post(PORTAL)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert fake_stripe.requests == []


def test_the_portal_needs_a_stripe_customer(fake_stripe, alice, alice_client):
    BillingAccount.objects.create(user=alice)

    assert alice_client.post(PORTAL).status_code == 404


def test_the_portal_reports_stripe_failures(fake_stripe, alice, alice_client):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    fake_stripe.fail_next(404, code="resource_missing")

    response = alice_client.post(PORTAL)

    assert response.status_code == 502
    assert response.json()["error"]["details"]["code"] == "resource_missing"


def test_a_user_without_subscription_is_on_the_free_plan(alice_client):
    response = alice_client.get(SUBSCRIPTION)

    assert response.status_code == 200
    start, end = month_bounds(datetime.now(UTC))
    assert response.json()["data"] == {
        "plan": "free",
        "status": None,
        "currentPeriodStart": start.isoformat().replace("+00:00", "Z"),
        "currentPeriodEnd": end.isoformat().replace("+00:00", "Z"),
        "cancelAtPeriodEnd": False,
    }


def test_it_shows_the_paid_subscription(alice, alice_client):
    BillingAccount.objects.create(
        user=alice,
        plan="pro",
        stripe_subscription_id="sub_1",
        subscription_status="active",
        current_period_start=datetime(2026, 11, 3, tzinfo=UTC),
        current_period_end=datetime(2026, 12, 3, tzinfo=UTC),
        cancel_at_period_end=True,
    )

    data = alice_client.get(SUBSCRIPTION).json()["data"]

    assert data == {
        "plan": "pro",
        "status": "active",
        "currentPeriodStart": "2026-11-03T00:00:00Z",
        "currentPeriodEnd": "2026-12-03T00:00:00Z",
        "cancelAtPeriodEnd": True,
    }


def test_billing_needs_authentication(anon_client):
    assert anon_client.get(SUBSCRIPTION).status_code == 401
    assert anon_client.post(PORTAL).status_code == 401
