"""Signing in and consenting in a real browser: Debian's chromium driven by Playwright, against
config.asgi over HTTP, as a person connecting an MCP client. Approve, then deny.

Each step leaves a screenshot in the pytest run's temporary directory (printed at the end);
the `live`, `page` and `screenshots` fixtures are authz/tests/browsing.py's.
Without /usr/bin/chromium (scripts/install-browser.sh) it skips, or fails under CI=true.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
import pytest
from playwright.sync_api import expect

from accounts import local_issuer
from core.testing import LoopbackServer, echo_path, shot

from .endpoints import SHOP, pkce

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def callback() -> Iterator[LoopbackServer]:
    """The MCP client's redirect URI: a real HTTP server the browser lands on."""
    with LoopbackServer(echo_path) as server:
        yield server


def start_flow(live: str, callback: LoopbackServer, mcp_url: str) -> tuple[str, str, str]:
    redirect_uri = f"{callback.url}/callback"
    registered = httpx2.post(
        f"{live}/oauth/register",
        json={
            "client_name": "Browser Agent",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
        },
    ).json()
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": registered["client_id"],
        "redirect_uri": redirect_uri,
        "state": "browser-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "tools:call",
        "resource": mcp_url,
    }
    return f"{live}/oauth/authorize?{urlencode(query)}", registered["client_id"], verifier


def test_a_person_signs_in_approves_and_denies(
    live, alice, alice_client, callback, page, screenshots
):
    spec = alice_client.post("/api/specs", {"document": SHOP}, format="json").json()["data"]
    server = alice_client.post(
        "/api/servers", {"specId": spec["id"], "name": "Shop"}, format="json"
    ).json()["data"]
    authorize_url, client_id, verifier = start_flow(live, callback, server["mcpUrl"])

    page.goto(authorize_url)
    expect(page.get_by_role("heading", name="Sign in to Specgate")).to_be_visible()
    shot(page, screenshots, "01-sign-in")
    page.get_by_label("Session token").fill(local_issuer.mint_token(alice.email))
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Authorize Browser Agent?")).to_be_visible()
    expect(page.get_by_text("Unverified client")).to_be_visible()
    expect(page.locator("#server-name")).to_contain_text("Shop")
    expect(page.locator("#redirect-host")).to_contain_text(urlparse(callback.url).netloc)
    shot(page, screenshots, "02-consent")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{callback.url}/callback?*")
    query = parse_qs(urlparse(page.url).query)
    assert query["state"] == ["browser-state"]
    assert query["iss"] == [f"{live}/"]

    token = httpx2.post(
        f"{live}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": f"{callback.url}/callback",
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": server["mcpUrl"],
        },
    ).json()
    listed = httpx2.post(
        server["mcpUrl"],
        content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            "authorization": f"Bearer {token['access_token']}",
        },
    )
    assert listed.status_code == 200
    assert [tool["name"] for tool in listed.json()["result"]["tools"]] == ["listItems"]

    # A second client, still signed in: this time the person says no.
    authorize_url, _, _ = start_flow(live, callback, server["mcpUrl"])
    page.goto(authorize_url)
    expect(page.get_by_role("heading", name="Authorize Browser Agent?")).to_be_visible()
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{callback.url}/callback?*")
    denied = parse_qs(urlparse(page.url).query)
    assert denied["error"] == ["access_denied"]
    assert denied["state"] == ["browser-state"]
    assert "code" not in denied
    shot(page, screenshots, "03-denied")


def test_the_consent_page_refuses_to_be_framed(live, alice, alice_client, callback, page):
    spec = alice_client.post("/api/specs", {"document": SHOP}, format="json").json()["data"]
    server = alice_client.post(
        "/api/servers", {"specId": spec["id"], "name": "Shop"}, format="json"
    ).json()["data"]
    authorize_url, _, _ = start_flow(live, callback, server["mcpUrl"])
    page.goto(authorize_url)
    page.get_by_label("Session token").fill(local_issuer.mint_token(alice.email))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Authorize Browser Agent?")).to_be_visible()

    # A page elsewhere frames the consent page: the browser shows nothing of it.
    page.set_content(
        f'<iframe id="victim" src="{authorize_url}" width="600" height="400"></iframe>'
    )
    page.wait_for_timeout(1000)
    frame = page.frame_locator("#victim")
    expect(frame.get_by_role("button", name="Approve")).to_have_count(0)
