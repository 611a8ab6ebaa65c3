"""Linking one's own upstream account in a real browser: Debian's chromium driven by Playwright,
against config.asgi over HTTP and the fake OAuth provider on loopback. The person opens the
link the API gives, signs in, cancels once, then approves, goes through the provider and back
to the callback, and the link shows in `GET /api/connections`; the page refuses framing.

Marked `services`: it runs once, in .ci/run's second run. Without /usr/bin/chromium
(scripts/install-browser.sh) it skips, or fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from accounts import local_issuer
from core.testing import shot
from credentials.models import Connection
from credentials.tests.provider import FakeProvider, add_client, document
from gateway.testing import create_server, mcp_post
from usage.recorder import recorder

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provider(live) -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake
    recorder.flush()  # the gateway's request logs, written before the database goes


def test_a_person_links_their_account_after_cancelling_once(
    live, provider, alice, alice_client, page, screenshots
):
    server = create_server(alice_client, document(provider.url), provider.url, name="Hub")
    add_client(alice_client, server["id"], provider)
    minted = alice_client.post(f"/api/servers/{server['id']}/connections", {}, format="json")
    assert minted.status_code == 201, minted.json()
    url = minted.json()["data"]["url"]
    assert url == f"{live}/oauth/upstream/connect/{server['id']}?scheme=hub"

    # Signed out: sign in first, then back on the connect page.
    page.goto(url)
    expect(page.get_by_role("heading", name="Sign in to Specgate")).to_be_visible()
    page.get_by_label("Session token").fill(local_issuer.mint_token(alice.email))
    page.get_by_role("button", name="Sign in").click()
    title = "Link your 127.0.0.1 account to Hub as alice@example.com?"
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text("alice@example.com")
    shot(page, screenshots, "upstream-01-connect")

    # The page may not be framed anywhere.
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    # Cancel: nothing is linked, the provider is never asked, no link cookie is set.
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Nothing was linked")).to_be_visible()
    cookie = django_settings.UPSTREAM_LINK_COOKIE_NAME
    assert cookie not in {c["name"] for c in page.context.cookies()}
    assert provider.codes == {} and not Connection.objects.exists()

    # Approve: off to the provider (who signs the person in as octocat) and back.
    page.goto(url)
    page.get_by_role("button", name="Continue to 127.0.0.1").click()
    page.wait_for_url(f"{live}/oauth/upstream/callback?*")
    expect(page.get_by_role("heading", name="Your 127.0.0.1 account is linked")).to_be_visible()
    shot(page, screenshots, "upstream-02-linked")
    assert cookie not in {c["name"] for c in page.context.cookies()}

    listed = alice_client.get("/api/connections").json()["data"]
    assert [(c["serverId"], c["status"], c["scopes"]) for c in listed] == [
        (server["id"], "connected", ["read:user"])
    ]
    called = mcp_post(server["mcpUrl"], server["key"], "tools/call", {"name": "getMe"})
    assert called.status_code == 200 and "octocat" in called.text, called.text
