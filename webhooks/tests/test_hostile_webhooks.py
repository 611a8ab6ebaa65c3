"""Hostile deliveries to the Stripe and Clerk webhooks: unsigned, tampered, replayed, duplicated,
oversized, mistyped or malformed. Each is refused with a 4xx and stores nothing (or, for a
duplicate, nothing more), never a 500, and the answer leaks no secret or stack trace."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from billing.testing import stripe_event
from webhooks.models import WebhookEvent
from webhooks.testing import (
    CLERK_SECRET,
    CLERK_URL,
    STRIPE_URL,
    clerk_event,
    clerk_user,
    post_clerk,
    post_stripe,
)

STRIPE_SECRET = "whsec_hostile_stripe_signing_secret"


@pytest.fixture(autouse=True)
def _secrets(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.CLERK_WEBHOOK_SECRET = CLERK_SECRET


def assert_refused(response: Any, status: int = 400) -> None:
    assert response.status_code == status, response.content
    text = response.content.decode("utf-8", "replace")
    json.loads(text)
    for leak in (
        "Traceback",
        'File "',
        str(django_settings.BASE_DIR),
        django_settings.SECRET_KEY,
        STRIPE_SECRET,
        CLERK_SECRET,
    ):
        assert leak not in text


def subscription_event(event_id: str | None = None) -> str:
    return stripe_event(
        "customer.subscription.updated", {"id": "sub_1", "customer": "cus_1"}, event_id
    )


# -- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [STRIPE_URL, CLERK_URL])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_STRIPE_SIGNATURE": "t=1,v1=deadbeef"},
        {"HTTP_STRIPE_SIGNATURE": "garbage"},
        {"HTTP_STRIPE_SIGNATURE": "t=" + "9" * 400 + ",v1=" + "a" * 64},
        {"HTTP_SVIX_ID": "msg_1", "HTTP_SVIX_TIMESTAMP": "1", "HTTP_SVIX_SIGNATURE": "v1,AAAA"},
        {"HTTP_SVIX_ID": "msg_1", "HTTP_SVIX_TIMESTAMP": "nan", "HTTP_SVIX_SIGNATURE": "x"},
    ],
    ids=["none", "wrong", "garbage", "huge-timestamp", "svix-wrong", "svix-garbage"],
)
def test_an_unsigned_or_badly_signed_delivery_is_400_and_stores_nothing(db, url, headers):
    body = subscription_event() if url == STRIPE_URL else clerk_event("user.created", {})

    response = APIClient().post(url, body, content_type="application/json", **headers)

    assert_refused(response)
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("url", [STRIPE_URL, CLERK_URL])
def test_a_body_that_is_not_utf8_is_400_and_stores_nothing(db, url):
    response = APIClient().post(
        url,
        b'{"\xdc\xff": 1}',
        content_type="application/json",
        HTTP_SVIX_ID="msg_1",
        HTTP_SVIX_TIMESTAMP=str(int(time.time())),
        HTTP_SVIX_SIGNATURE="v1,AAAA",
        HTTP_STRIPE_SIGNATURE="t=1,v1=deadbeef",
    )

    assert_refused(response)
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (b"\xff\xfe{not utf-8}", "v1,AAAA"),
        (b'{"type": "user.created"}', "no-comma-in-this-signature"),
        (b'{"type": "user.created"}', "v1,not*base64!"),
    ],
    ids=["non-utf8-body", "signature-without-version", "signature-not-base64"],
)
def test_a_clerk_delivery_that_cannot_be_verified_is_400_not_500(db, body, signature):
    # Timestamp current, so verification reaches the body and the signature's own format.
    response = APIClient().post(
        CLERK_URL,
        body,
        content_type="application/json",
        HTTP_SVIX_ID="msg_1",
        HTTP_SVIX_TIMESTAMP=str(int(time.time())),
        HTTP_SVIX_SIGNATURE=signature,
    )

    assert_refused(response)
    assert WebhookEvent.objects.count() == 0


def test_a_tampered_body_is_400_and_stores_nothing(db):
    signed = subscription_event("evt_signed")
    tampered = signed.replace("cus_1", "cus_attacker")

    stripe = post_stripe(tampered, STRIPE_SECRET, signed=signed)
    clerk = post_clerk(tampered, signed=signed)

    assert_refused(stripe)
    assert_refused(clerk)
    assert WebhookEvent.objects.count() == 0


def test_a_delivery_signed_with_another_secret_is_400(db):
    assert_refused(post_stripe(subscription_event(), "whsec_not_ours"))
    assert_refused(
        post_clerk(clerk_event("user.created", clerk_user("user_1", "a@example.com")), secret=(
            "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
        ))
    )  # fmt: skip
    assert WebhookEvent.objects.count() == 0


def test_a_replayed_delivery_with_an_old_timestamp_is_400_and_stores_nothing(db):
    an_hour_ago = int(time.time()) - 3600
    stripe = post_stripe(subscription_event(), STRIPE_SECRET, timestamp=an_hour_ago)
    clerk = post_clerk(
        clerk_event("user.created", clerk_user("user_1", "a@example.com")),
        timestamp=datetime.now(UTC) - timedelta(hours=1),
    )
    future = post_stripe(subscription_event(), STRIPE_SECRET, timestamp=int(time.time()) + 3600)

    assert_refused(stripe)
    assert_refused(clerk)
    assert future.status_code in (200, 400)
    assert WebhookEvent.objects.count() == (1 if future.status_code == 200 else 0)


def test_a_duplicated_delivery_is_acknowledged_and_stored_once(
    db, django_capture_on_commit_callbacks
):
    body = subscription_event("evt_twice")
    clerk_body = clerk_event("user.created", clerk_user("user_1", "a@example.com"))

    answers = [post_stripe(body, STRIPE_SECRET) for _ in range(3)]
    answers += [post_clerk(clerk_body, msg_id="msg_twice") for _ in range(3)]

    assert [a.json() for a in answers] == [{"received": True}] * 6
    assert WebhookEvent.objects.filter(provider="stripe", event_id="evt_twice").count() == 1
    assert WebhookEvent.objects.filter(provider="clerk", event_id="msg_twice").count() == 1


# -- size, type and shape -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [STRIPE_URL, CLERK_URL])
def test_an_oversized_delivery_is_413_before_it_is_read(db, settings, url):
    settings.REQUEST_MAX_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps({"id": "evt_big", "type": "x", "data": {"pad": "x" * 10_000}})

    response = APIClient().post(url, body, content_type="application/json")

    assert_refused(response, 413)
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("url", [STRIPE_URL, CLERK_URL])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_a_wrong_content_type_without_a_signature_is_400(db, url, content_type):
    response = APIClient().generic("POST", url, "id=evt_1&type=x", content_type=content_type)

    assert_refused(response)
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        "id=evt_1&type=checkout.session.completed",
        "[" * 100_000 + "]" * 100_000,
        '{"id": "evt_1", "type": "x", "data": {"object": {}}' + "}" * 3,
        json.dumps(["not", "an", "object"]),
        json.dumps({"type": "x"}),
        json.dumps({"id": 5, "type": "x"}),
        json.dumps({"id": "evt_" + "x" * 300, "type": "x"}),
        json.dumps({"id": "evt_1", "type": "t" * 101}),
        '{"id": "evt_nul", "type": "x", "data": {"object": {"name": "a\\u0000b"}}}',
        '{"id": "evt_sur", "type": "x", "data": {"object": {"name": "a\\ud800b"}}}',
    ],
    ids=[
        "form", "nested-100k", "broken-json", "array", "no-id", "int-id", "long-id", "long-type",
        "nul", "lone-surrogate",
    ],
)  # fmt: skip
def test_a_correctly_signed_body_that_is_not_a_storable_event_is_400(db, body):
    stripe = post_stripe(body, STRIPE_SECRET)
    clerk = post_clerk(body)

    assert_refused(stripe)
    assert_refused(clerk)
    assert WebhookEvent.objects.count() == 0


def test_a_clerk_delivery_with_an_oversized_svix_id_is_400(db):
    body = clerk_event("user.created", clerk_user("user_1", "a@example.com"))

    assert_refused(post_clerk(body, msg_id="msg_" + "x" * 300))
    assert WebhookEvent.objects.count() == 0


def test_unconfigured_webhooks_are_503_without_naming_a_secret_value(db, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.CLERK_WEBHOOK_SECRET = ""

    assert_refused(post_stripe(subscription_event(), STRIPE_SECRET), 503)
    assert_refused(post_clerk(clerk_event("user.created", {})), 503)
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_405(db, method):
    for url in (STRIPE_URL, CLERK_URL):
        response = APIClient().generic(method, url)
        assert_refused(response, 405)
