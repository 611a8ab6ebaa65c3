from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.models import Application

from accounts.models import ApiToken, User
from authz.models import Authorization
from authz.services import authorization_grant
from authz.tests.endpoints import make_server
from billing.models import BillingAccount
from billing.tasks import cancel_subscription
from billing.testing import subscription_object
from core.invalidation import generation_key
from credentials.models import Credential
from servers.models import AccessKey, Server
from specs.models import Spec
from usage.models import RequestLog
from webhooks.models import WebhookEvent
from webhooks.testing import CLERK_SECRET, clerk_event, clerk_user, post_clerk


@pytest.fixture(autouse=True)
def _clerk_secret(settings):
    settings.CLERK_WEBHOOK_SECRET = CLERK_SECRET


@pytest.fixture
def deliver(db, django_capture_on_commit_callbacks):
    def send(body: str, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post_clerk(body, **kwargs)

    return send


def test_user_created_creates_the_user(deliver):
    response = deliver(clerk_event("user.created", clerk_user("user_new", "ada@example.com")))

    assert response.status_code == 200
    assert response.json() == {"received": True}
    user = User.objects.get(clerk_id="user_new")
    assert (user.email, user.first_name, user.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert user.is_active
    assert not user.has_usable_password()
    assert WebhookEvent.objects.get().status == "processed"


def test_user_updated_refreshes_an_existing_user(deliver, alice):
    data = clerk_user(alice.clerk_id, "alice@new.example", first="Alice", last="Liddell")

    deliver(clerk_event("user.updated", data))

    alice.refresh_from_db()
    assert (alice.email, alice.first_name, alice.last_name) == (
        "alice@new.example",
        "Alice",
        "Liddell",
    )
    assert User.objects.count() == 1


def test_a_redelivery_is_processed_once(deliver):
    body = clerk_event("user.created", clerk_user("user_dup", "dup@example.com"))

    responses = [deliver(body, msg_id="msg_same") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.attempts) == ("clerk", "msg_same", 1)
    assert User.objects.filter(clerk_id="user_dup").count() == 1


def test_it_refuses_a_tampered_body(deliver):
    body = clerk_event("user.created", clerk_user("user_x", "x@example.com"))

    response = deliver(body.replace("x@example.com", "evil@example.com"), signed=body)

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_body_that_is_not_utf8(client):
    response = client.post(
        "/api/webhooks/clerk",
        data=b'\xf2H"\xff',
        content_type="application/json",
        HTTP_SVIX_ID="msg_1",
        HTTP_SVIX_TIMESTAMP=str(int(datetime.now(UTC).timestamp())),
        HTTP_SVIX_SIGNATURE="v1,AAAA",
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_refuses_a_wrong_secret(deliver):
    body = clerk_event("user.created", clerk_user("user_x", "x@example.com"))

    response = deliver(body, secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_refuses_a_stale_timestamp(deliver):
    body = clerk_event("user.created", clerk_user("user_x", "x@example.com"))

    response = deliver(body, timestamp=datetime.now(UTC) - timedelta(minutes=6))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_refuses_when_not_configured(deliver, settings):
    settings.CLERK_WEBHOOK_SECRET = ""

    response = deliver(clerk_event("user.created", clerk_user("user_x", "x@example.com")))

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()


@pytest.fixture
def alices_account(alice, fake_stripe):
    spec = Spec.objects.create(
        user=alice, name="Pets", format="openapi-3.1", original_text="{}", document={}, sha256="0"
    )
    server = Server.objects.create(
        user=alice, spec=spec, name="Pets", slug="alice-pets", base_url="https://pets.example"
    )
    AccessKey.objects.create(server=server, name="k", prefix="sgk_1", key_hash="h1")
    ApiToken.objects.create(user=alice, name="ci", prefix="sgp_1", token_hash="t1")
    Credential.objects.create(server=server, type="apiKey", key_id="k1", ciphertext="sealed")
    RequestLog.objects.create(
        user=alice,
        server=server,
        server_name="Pets",
        tool_name="listPets",
        source="mcp",
        method="GET",
        path="/pets",
        created_at=timezone.now(),
    )
    BillingAccount.objects.create(
        user=alice,
        plan="starter",
        stripe_customer_id="cus_alice",
        stripe_subscription_id="sub_alice",
        subscription_status="active",
    )
    fake_stripe.subscriptions["sub_alice"] = subscription_object(
        subscription_id="sub_alice",
        customer="cus_alice",
        status="active",
        price_ids=["price_starter_flat", "price_starter_metered"],
        period_start=1_790_000_000,
        period_end=1_792_592_000,
    )
    return server


def test_user_deleted_shuts_the_account_down(
    deliver, alice, alice_client, alices_account, fake_stripe
):
    server = alices_account
    cache.delete(generation_key(server.slug))

    response = deliver(clerk_event("user.deleted", {"id": alice.clerk_id, "deleted": True}))

    assert response.status_code == 200
    alice.refresh_from_db()
    assert not alice.is_active
    assert alice.deactivated_at is not None
    server.refresh_from_db()
    assert server.status == "disabled"
    assert server.config_version == 2
    assert cache.get(generation_key(server.slug)) is not None
    assert not AccessKey.objects.filter(server=server, revoked_at__isnull=True).exists()
    assert not ApiToken.objects.filter(user=alice, revoked_at__isnull=True).exists()
    assert not Credential.objects.filter(server=server).exists()
    assert RequestLog.objects.filter(user=alice).count() == 1
    (cancel,) = fake_stripe.requests_to("DELETE", "/v1/subscriptions/sub_alice")
    assert cancel.idempotency_key == "specgate:cancel:sub_alice"
    account = BillingAccount.objects.get(user=alice)
    assert (account.plan, account.subscription_status) == ("free", "canceled")
    assert alice_client.get("/api/billing/subscription").status_code == 401


@pytest.fixture
def eager_retries():
    """Let an eagerly run task retry in place, as a worker would after its countdown."""
    conf = cancel_subscription.app.conf
    previous = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = previous


def test_the_subscription_cancel_is_retried_while_stripe_fails(
    alice, alices_account, fake_stripe, eager_retries
):
    fake_stripe.fail_next(500, times=2)

    cancel_subscription.delay(str(alice.pk))

    attempts = fake_stripe.requests_to("DELETE", "/v1/subscriptions/sub_alice")
    assert len(attempts) == 3
    assert {a.idempotency_key for a in attempts} == {"specgate:cancel:sub_alice"}
    assert BillingAccount.objects.get(user=alice).subscription_status == "canceled"


def test_a_late_user_updated_does_not_revive_a_deleted_user(deliver, alice, fake_stripe):
    deliver(clerk_event("user.deleted", {"id": alice.clerk_id, "deleted": True}))

    deliver(clerk_event("user.updated", clerk_user(alice.clerk_id, "alice@example.com")))

    alice.refresh_from_db()
    assert not alice.is_active


def test_deleting_an_unknown_user_is_acknowledged(deliver):
    response = deliver(clerk_event("user.deleted", {"id": "user_unknown", "deleted": True}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"


def test_leaving_an_organisation_ends_the_grants_it_admitted(deliver, alice_client, bob):
    servers = {}
    for name, audience in (("team", ["org_2Team"]), ("open", ["org_2Team", "bob@example.com"])):
        created = make_server(alice_client, name)
        Server.objects.filter(pk=created["id"]).update(visibility="shared", audience=audience)
        servers[name] = Server.objects.get(pk=created["id"])
    application = Application.objects.create(
        name="Agent",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:1/cb",
    )
    grants = {
        name: authorization_grant(
            user=bob, application=application, server=server, scope="tools:call", org_id="org_2Team"
        )
        for name, server in servers.items()
    }
    membership = {
        "object": "organization_membership",
        "organization": {"id": "org_2Team"},
        "public_user_data": {"user_id": bob.clerk_id},
    }
    cache.delete(generation_key(servers["team"].slug))

    response = deliver(clerk_event("organizationMembership.deleted", membership))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"
    ended, kept = (Authorization.objects.get(pk=grants[name].pk) for name in ("team", "open"))
    assert ended.revoked_at is not None
    assert cache.get(generation_key(servers["team"].slug)) is not None
    # Still in that server's audience by email: the grant stays, no longer through the org.
    assert (kept.revoked_at, kept.org_id) == (None, "")
