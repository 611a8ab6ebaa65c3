"""The operator's key journeys in a real browser: Debian's chromium, driven by Playwright for
Python, against the whole product served over HTTP (config.asgi: the admin and /mcp).

Sign in with an email address, find a user, revoke their access key (a real MCP call with it is
then refused), re-run a failed webhook. Each step leaves a screenshot in the pytest run's
temporary directory (printed at the end), kept as a CI artifact, never committed.

Marked `services`: it runs in .ci/run's second run (PostgreSQL and Redis). Without
/usr/bin/chromium (scripts/install-browser.sh) it skips, or fails under CI=true.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from django.db import connection
from playwright.sync_api import expect

from accounts.models import User
from billing.models import BillingAccount
from billing.testing import fake_stripe, stripe_event, subscription_object
from config.asgi import application, registry
from core.testing import LoopbackServer, chromium_page, echo_path, shot
from gateway.testing import serve_on_loopback
from webhooks.models import WebhookEvent
from webhooks.services import webhook_event_process

__all__ = ["fake_stripe"]

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PASSWORD = "operator password for the browser"
DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Things", "version": "1.0"},
    "paths": {
        "/things": {
            "get": {"operationId": "listThings", "responses": {"200": {"description": "OK"}}}
        }
    },
}


@pytest.fixture
def screenshots(tmp_path_factory, capsys) -> Iterator[Path]:
    directory = tmp_path_factory.getbasetemp() / "admin-screenshots"
    directory.mkdir(exist_ok=True)
    yield directory
    with capsys.disabled():
        print(f"\nadmin browser screenshots: {directory}")


@pytest.fixture
def live(settings) -> Iterator[str]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    registry.forget()
    # The server's threads close their database connections after each request, so none is
    # left open on the test database when pytest drops it.
    database = connection.settings_dict
    kept, database["CONN_MAX_AGE"] = database["CONN_MAX_AGE"], 0
    try:
        with serve_on_loopback(application) as url:
            yield url
    finally:
        database["CONN_MAX_AGE"] = kept


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    with LoopbackServer(echo_path) as server:
        yield server


@pytest.fixture
def shop(alice_client, upstream) -> dict[str, Any]:
    spec = alice_client.post("/api/specs", {"document": DOCUMENT}, format="json").json()["data"]
    server = alice_client.post(
        "/api/servers",
        {"specId": spec["id"], "name": "Things", "baseUrl": upstream.url},
        format="json",
    ).json()["data"]
    key = alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "laptop"}, format="json")
    return {**server, "key": key.json()["data"]["key"]}


@pytest.fixture
def operator_account(db) -> User:
    return User.objects.create_superuser(email="ops@example.com", password=PASSWORD)


def mcp_ping(live: str, slug: str, key: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}
    response = httpx2.post(
        f"{live}/mcp/{slug}",
        content=json.dumps(body),
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            "authorization": f"Bearer {key}",
        },
        timeout=20,
    )
    return int(response.status_code)


def sign_in(page: Any, live: str, screenshots: Path) -> None:
    page.goto(f"{live}/admin/")
    expect(page.get_by_label("Email address")).to_be_visible()
    page.get_by_label("Email address").fill("ops@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    shot(page, screenshots, "01-sign-in")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live}/admin/")
    assert page.locator("#site-name").inner_text() == "Specgate"
    shot(page, screenshots, "02-signed-in")


def test_find_a_user_and_revoke_their_key_then_mcp_refuses_it(
    live, shop, alice, operator_account, screenshots
) -> None:
    assert mcp_ping(live, shop["slug"], shop["key"]) == 200
    with chromium_page(screenshots) as page:
        sign_in(page, live, screenshots)

        page.get_by_role("link", name="Users", exact=True).click()
        page.locator("#searchbar").fill("alice")
        page.locator("#changelist-search input[type=submit]").click()
        shot(page, screenshots, "03-users-found")
        page.get_by_role("link", name="alice@example.com").click()
        shot(page, screenshots, "04-user-page")
        expect(page.get_by_role("link", name=shop["slug"], exact=True)).to_be_visible()

        page.get_by_role("link", name="laptop").click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Revoke").click()
        page.wait_for_selector(".messagelist .success")
        assert "revoked" in page.locator(".messagelist").inner_text()
        expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
        shot(page, screenshots, "05-key-revoked")

    deadline = time.monotonic() + 5.0  # the gateway re-checks every couple of seconds
    while mcp_ping(live, shop["slug"], shop["key"]) != 401:
        assert time.monotonic() < deadline, "the revoked key still works on the gateway"
        time.sleep(0.2)


def test_re_run_a_failed_webhook_event(live, alice, operator_account, fake_stripe, screenshots):
    BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    snapshot = subscription_object(
        subscription_id="sub_a",
        customer="cus_alice",
        status="active",
        price_ids=["price_pro_flat", "price_pro_metered"],
        period_start=1_790_000_000,
        period_end=1_792_592_000,
    )
    fake_stripe.subscriptions["sub_a"] = snapshot
    payload = json.loads(stripe_event("customer.subscription.updated", snapshot))
    event = WebhookEvent.objects.create(
        provider="stripe", event_id=payload["id"], type=payload["type"], payload=payload
    )
    fake_stripe.fail_next(500)
    assert webhook_event_process(event_pk=event.pk) == "failed"

    with chromium_page(screenshots) as page:
        sign_in(page, live, screenshots)
        page.goto(f"{live}/admin/webhooks/webhookevent/?status__exact=failed")
        shot(page, screenshots, "06-failed-webhooks")
        page.get_by_role("link", name=event.event_id).click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Re-run").click()
        page.wait_for_selector(".messagelist .success")
        assert "ran again: processed" in page.locator(".messagelist").inner_text()
        shot(page, screenshots, "07-webhook-re-run")

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert list(event.history.values_list("trigger", "status")) == [
        ("delivery", "failed"),
        ("operator", "processed"),
    ]
    assert BillingAccount.objects.get(user=alice).plan == "pro"
