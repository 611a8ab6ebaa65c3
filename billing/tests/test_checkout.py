from __future__ import annotations

import json

import pytest

from billing.models import BillingAccount
from core.testing import free_port

CHECKOUT = "/api/billing/checkout"


def test_it_creates_a_subscription_checkout_session(fake_stripe, alice, alice_client, settings):
    response = alice_client.post(CHECKOUT, {"planId": "starter"}, format="json")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["sessionId"].startswith("cs_test_")
    assert data["url"] == f"https://checkout.stripe.test/c/pay/{data['sessionId']}"
    (customer,) = fake_stripe.requests_to("POST", "/v1/customers")
    assert customer.params["email"] == "alice@example.com"
    assert customer.params["metadata[user_id]"] == str(alice.pk)
    assert customer.idempotency_key == f"specgate:customer:{alice.pk}"
    assert customer.authorization == f"Bearer {settings.STRIPE_SECRET_KEY}"
    (session,) = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    customer_id = BillingAccount.objects.get(user=alice).stripe_customer_id
    assert customer_id.startswith("cus_")
    assert session.params == {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": str(alice.pk),
        "line_items[0][price]": "price_starter_flat",
        "line_items[0][quantity]": "1",
        "line_items[1][price]": "price_starter_metered",
        "success_url": settings.BILLING_SUCCESS_URL,
        "cancel_url": settings.BILLING_CANCEL_URL,
        "metadata[user_id]": str(alice.pk),
        "metadata[plan]": "starter",
        "subscription_data[metadata][user_id]": str(alice.pk),
        "subscription_data[metadata][plan]": "starter",
    }
    assert session.idempotency_key.startswith(f"specgate:checkout:{alice.pk}:starter:")


def test_it_creates_the_customer_once_and_reuses_it(fake_stripe, alice_client):
    alice_client.post(CHECKOUT, {"planId": "starter"}, format="json")
    alice_client.post(CHECKOUT, {"planId": "pro"}, format="json")

    assert len(fake_stripe.requests_to("POST", "/v1/customers")) == 1
    sessions = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert [s.params["line_items[0][price]"] for s in sessions] == [
        "price_starter_flat",
        "price_pro_flat",
    ]
    assert sessions[0].params["customer"] == sessions[1].params["customer"]


def test_a_repeated_checkout_reuses_its_idempotency_key_and_session(fake_stripe, alice_client):
    first = alice_client.post(CHECKOUT, {"planId": "pro"}, format="json").json()["data"]
    second = alice_client.post(CHECKOUT, {"planId": "pro"}, format="json").json()["data"]

    keys = {r.idempotency_key for r in fake_stripe.requests_to("POST", "/v1/checkout/sessions")}
    assert len(keys) == 1
    assert first == second


def test_the_sdk_retries_a_failed_create_with_the_same_idempotency_key(fake_stripe, alice_client):
    fake_stripe.fail_next(500, retry=True)

    response = alice_client.post(CHECKOUT, {"planId": "starter"}, format="json")

    assert response.status_code == 200
    attempts = fake_stripe.requests_to("POST", "/v1/customers")
    assert len(attempts) == 2
    assert attempts[0].idempotency_key == attempts[1].idempotency_key


def test_it_refuses_a_second_subscription(fake_stripe, alice, alice_client):
    BillingAccount.objects.create(
        user=alice,
        plan="starter",
        stripe_customer_id="cus_1",
        stripe_subscription_id="sub_1",
        subscription_status="active",
    )

    response = alice_client.post(CHECKOUT, {"planId": "pro"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert fake_stripe.requests == []


def test_a_user_whose_subscription_ended_can_subscribe_again(fake_stripe, alice, alice_client):
    BillingAccount.objects.create(
        user=alice,
        stripe_customer_id="cus_1",
        stripe_subscription_id="sub_1",
        subscription_status="canceled",
    )

    response = alice_client.post(CHECKOUT, {"planId": "pro"}, format="json")

    assert response.status_code == 200
    assert fake_stripe.requests_to("POST", "/v1/customers") == []
    (session,) = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert session.params["customer"] == "cus_1"


@pytest.mark.parametrize("body", [{"planId": "free"}, {"planId": "enterprise"}, {}, {"planId": 1}])
def test_it_rejects_other_plan_ids(fake_stripe, alice_client, body):
    response = alice_client.post(CHECKOUT, body, format="json")

    assert response.status_code == 400
    assert "planId" in response.json()["error"]["details"]
    assert fake_stripe.requests == []


def test_it_says_billing_is_not_configured(alice_client, settings):
    settings.STRIPE_SECRET_KEY = ""

    response = alice_client.post(CHECKOUT, {"planId": "starter"}, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"] == {"reason": "billing_not_configured"}
    assert "not configured" in error["message"]
    assert "Retry-After" not in response  # not transient: retrying will not help


def test_it_says_a_plan_without_prices_is_not_configured(fake_stripe, alice_client, settings):
    settings.STRIPE_METERED_PRICE_PRO = ""

    response = alice_client.post(CHECKOUT, {"planId": "pro"}, format="json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "STRIPE_METERED_PRICE_PRO" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "parameter_invalid_empty"), (401, None), (402, "card_declined"), (500, None)],
)
def test_stripe_failures_become_upstream_errors(fake_stripe, alice_client, settings, status, code):
    fake_stripe.fail_next(status, code=code)

    response = alice_client.post(CHECKOUT, {"planId": "starter"}, format="json")

    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "UPSTREAM_ERROR"
    assert body["error"]["details"] == {"provider": "stripe", "status": status, "code": code}
    assert settings.STRIPE_SECRET_KEY not in json.dumps(body)


def test_it_reports_an_unreachable_stripe_as_upstream_error(alice_client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_unreachable"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_PRICE_STARTER = "price_a"
    settings.STRIPE_METERED_PRICE_STARTER = "price_b"

    response = alice_client.post(CHECKOUT, {"planId": "starter"}, format="json")

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "UPSTREAM_ERROR"
