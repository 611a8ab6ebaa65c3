"""Each person's own upstream account (oauth2AuthorizationCode), against a real OAuth provider
on loopback: link, call, refresh before expiry and on a 401, rejected refresh, unlink, two
people on one shared server, and the ways a link must not complete."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.testing import clerk_jwks
from authz.tests.endpoints import (
    authorize_params,
    browser_for,
    consent,
    exchange,
    pkce,
    redirect_query,
    register,
)
from core.testing import manual_clock, require_postgres_and_redis, services_database_url
from credentials import crypto
from credentials.injection import forget_cached
from credentials.models import Connection
from gateway.testing import create_server
from usage.models import RequestLog
from usage.recorder import recorder

from .provider import (
    CLIENT_SECRET,
    REFRESH_WORKER,
    FakeProvider,
    add_client,
    document,
    mcp_call,
    result_text,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with FakeProvider() as fake:
        yield fake
    recorder.flush()  # the gateway's request logs, written before the database goes


def start_link(browser: Any, url: str) -> str:
    """Open the connect page signed in, approve; the provider's authorization URL."""
    path = url.removeprefix("http://127.0.0.1:8000")
    page = browser.get(path)
    assert page.status_code == 200, page.content
    approved = browser.post(path, {"approve": "true"})
    assert approved.status_code == 302, approved.content
    location: str = approved["Location"]
    return location


def at_provider(authorize_url: str, login: str) -> str:
    """The person signs in at the provider as LOGIN; the callback path it sends them to."""
    answer = httpx2.get(f"{authorize_url}&login={login}", follow_redirects=False)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


def link(browser: Any, url: str, login: str) -> Any:
    return browser.get(at_provider(start_link(browser, url), login))


def oauth_token_for(email: str, mcp_url: str) -> str:
    client_id = register()
    verifier, challenge = pkce()
    params = authorize_params(client_id, mcp_url, challenge)
    code = redirect_query(consent(browser_for(email), params))["code"]
    token: str = exchange(client_id, code, verifier, mcp_url).json()["access_token"]
    return token


def test_each_person_calls_with_their_own_account_refreshed_and_unlinked(
    provider, alice, bob, alice_client, bob_client, operator
):
    server = create_server(alice_client, document(provider.url), provider.url, name="Hub")
    credential = add_client(alice_client, server["id"], provider)
    assert credential["redirectUri"] == "http://127.0.0.1:8000/oauth/upstream/callback"
    assert credential["authorizationUrl"] == f"{provider.url}/authorize"
    assert credential["tokenUrl"] == f"{provider.url}/token"
    assert credential["scopes"] == ["read:user"]
    assert CLIENT_SECRET not in str(credential)
    shared = alice_client.patch(
        f"/api/servers/{server['id']}",
        {"visibility": "shared", "audience": ["bob@example.com"]},
        format="json",
    )
    assert shared.status_code == 200, shared.json()

    # Not linked yet: the tool says where to link, the upstream is never asked.
    result = mcp_call(server["slug"], server["key"], "getMe")
    assert result["isError"] is True
    minted = alice_client.post(f"/api/servers/{server['id']}/connections", {}, format="json")
    assert minted.status_code == 201, minted.json()
    url = minted.json()["data"]["url"]
    assert url == f"http://127.0.0.1:8000/oauth/upstream/connect/{server['id']}?scheme=hub"
    assert url in result_text(result) and provider.seen == []

    alice_browser = browser_for(alice.email)
    page = alice_browser.get(url.removeprefix("http://127.0.0.1:8000"))
    assert b"Link your 127.0.0.1 account to Hub as alice@example.com" in page.content
    linked = link(alice_browser, url, "alice-gh")
    assert linked.status_code == 200 and b"account is linked" in linked.content

    result = mcp_call(server["slug"], server["key"], "getMe")
    assert result.get("isError") is not True, result
    assert "alice-gh" in result_text(result)
    alice_first = provider.seen[-1]
    assert alice_first.startswith("at-alice-gh-")

    # Bob, a user of the shared server, opens the link Alice minted: it links *his* account.
    bob_token = oauth_token_for(bob.email, server["mcpUrl"])
    assert "Connect it here" in result_text(mcp_call(server["slug"], bob_token, "getMe"))
    bob_browser = browser_for(bob.email)
    page = bob_browser.get(url.removeprefix("http://127.0.0.1:8000"))
    assert b"as bob@example.com" in page.content
    link(bob_browser, url, "bob-gh")
    assert "bob-gh" in result_text(mcp_call(server["slug"], bob_token, "getMe"))
    assert provider.seen[-1].startswith("at-bob-gh-")
    assert "alice-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
    assert provider.seen[-1] == alice_first  # cached: no refresh, no database read needed

    # Each sees their own connection only, never a token; another's is a 404.
    listed = alice_client.get("/api/connections").json()["data"]
    assert [(c["serverId"], c["status"], c["scopes"]) for c in listed] == [
        (server["id"], "connected", ["read:user"])
    ]
    assert listed[0]["provider"] == "127.0.0.1" and listed[0]["expiresAt"]
    bob_connection = bob_client.get("/api/connections").json()["data"][0]
    assert alice_client.delete(f"/api/connections/{bob_connection['id']}").status_code == 404
    admin_page = operator.get(f"/admin/credentials/connection/{listed[0]['id']}/change/")
    assert admin_page.status_code == 200
    for token in provider.seen + list(provider.refresh_tokens):
        assert token not in str(listed) and token.encode() not in admin_page.content

    with manual_clock() as clock:
        # Close to expiry: refreshed before the call (the rotated refresh token stored).
        clock.advance(provider.access_lifetime - 10)
        assert "alice-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
        assert provider.refreshes == 1 and provider.seen[-1] != alice_first

        # The upstream refuses the token: one refresh, one retry.
        provider.expire_access_tokens()
        calls = len(provider.seen)
        assert "alice-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
        assert provider.refreshes == 2 and len(provider.seen) == calls + 2

        # The provider refuses the refresh token: reconnect, with the link.
        provider.reject_refresh = True
        provider.expire_access_tokens()
        result = mcp_call(server["slug"], server["key"], "getMe")
        assert result["isError"] is True
        assert "Link it again" in result_text(result) and url in result_text(result)
        assert "401" not in result_text(result)
        listed = alice_client.get("/api/connections").json()["data"]
        assert listed[0]["status"] == "needsReconnect"
        assert provider.reuse_detected == 0

    # Bob unlinks: revoked at the provider, and his calls ask him to link again.
    bob_refresh = [t for t in provider.refresh_tokens if t.startswith("rt-bob-gh-")][-1]
    assert bob_client.delete(f"/api/connections/{bob_connection['id']}").status_code == 200
    assert provider.revoked == [bob_refresh]
    assert "Connect it here" in result_text(mcp_call(server["slug"], bob_token, "getMe"))
    assert not Connection.objects.filter(user=bob).exists()
    recorder.flush()
    logs = [str(row) for row in RequestLog.objects.values()]
    assert len(logs) >= 5
    for token in provider.seen + list(provider.refresh_tokens):
        assert not any(token in log for log in logs)


def test_a_link_completes_only_in_the_browser_and_session_that_started_it(
    provider, alice, bob, alice_client, bob_client
):
    server = create_server(alice_client, document(provider.url), provider.url, name="Hub")
    add_client(alice_client, server["id"], provider)
    url = alice_client.post(f"/api/servers/{server['id']}/connections").json()["data"]["url"]
    path = url.removeprefix("http://127.0.0.1:8000")
    alice_browser, bob_browser = browser_for(alice.email), browser_for(bob.email)

    # Signed out: the connect page asks to sign in first and comes back to it.
    signed_out = Client().get(path)
    assert signed_out.status_code == 302 and "/oauth/sign-in?next=" in signed_out["Location"]
    # A private server's link is its owner's only.
    assert bob_browser.get(path).status_code == 404
    assert bob_client.post(f"/api/servers/{server['id']}/connections").status_code == 404

    # Alice's provider URL (or the callback it leads to) opened in Bob's browser: refused.
    callback = at_provider(start_link(alice_browser, url), "mallory-gh")
    refused = bob_browser.get(callback)
    assert refused.status_code == 400 and b"not started here by you" in refused.content
    # Even with Alice's cookie copied over, Bob's session did not start it.
    cookie_name = "upstream-link"
    state = alice_browser.cookies[cookie_name].value
    bob_browser.cookies[cookie_name] = state
    assert bob_browser.get(callback).status_code == 400
    assert not Connection.objects.exists()

    # Alice completes her own link once; replaying the callback is refused.
    assert alice_browser.get(callback).status_code == 200
    assert alice_browser.get(callback).status_code == 400
    (connection,) = Connection.objects.all()
    assert connection.user == alice
    assert "mallory-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
    # Linking again replaces the tokens, and the replaced refresh token is revoked upstream.
    replaced = [t for t in provider.refresh_tokens if t.startswith("rt-mallory-gh-")]
    first = provider.seen[-1]
    assert link(alice_browser, url, "mallory-gh").status_code == 200
    assert provider.revoked == replaced and len(replaced) == 1
    assert Connection.objects.get().pk == connection.pk
    assert "mallory-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
    assert provider.seen[-1] != first  # the new link's token, not the cached old one
    # A fresh token is served from the worker's memory: the stored row is not even read.
    Connection.objects.update(ciphertext="unreadable", key_id="gone")
    assert "mallory-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
    forget_cached()  # a worker that never held it has to read it: "link it again"
    assert "Link it again" in result_text(mcp_call(server["slug"], server["key"], "getMe"))

    # A credential asking for more scopes: the person must consent again.
    credential_id = alice_client.get("/api/credentials").json()["data"][0]["id"]
    assert alice_client.delete(f"/api/credentials/{credential_id}").status_code == 200
    add_client(alice_client, server["id"], provider, scopes=["read:user", "repo"])
    assert alice_client.get("/api/connections").json()["data"][0]["status"] == "needsConsent"
    result = mcp_call(server["slug"], server["key"], "getMe")
    assert result["isError"] is True and "repo" in result_text(result)

    # A public server has no caller to act for: refused, the owner's account is never used.
    seen = len(provider.seen)
    public = alice_client.patch(
        f"/api/servers/{server['id']}", {"visibility": "public"}, format="json"
    )
    assert public.status_code == 200, public.json()
    result = mcp_call(server["slug"], None, "getMe")
    assert result["isError"] is True and "public server" in result_text(result)
    assert len(provider.seen) == seen
    assert alice_browser.get(path).status_code == 404


def test_a_member_of_an_organisation_in_the_audience_gets_the_link_and_links(
    provider, settings, alice_client
):
    server = create_server(alice_client, document(provider.url), provider.url, name="Hub")
    add_client(alice_client, server["id"], provider)
    shared = alice_client.patch(
        f"/api/servers/{server['id']}",
        {"visibility": "shared", "audience": ["org_2TeamAbc"]},
        format="json",
    )
    assert shared.status_code == 200, shared.json()
    path = f"/api/servers/{server['id']}/connections"
    with clerk_jwks(settings) as clerk:
        org = {"id": "org_2TeamAbc", "rol": "org:member", "slg": "team"}
        member, outsider = APIClient(), APIClient()
        member.credentials(
            HTTP_AUTHORIZATION=f"Bearer {clerk.keys[0].token(sub='user_erin', v=2, o=org)}"
        )
        outsider.credentials(
            HTTP_AUTHORIZATION=f"Bearer {clerk.keys[0].token(sub='user_erin', v=2)}"
        )
        # The same person without that organisation active is not in the audience.
        assert outsider.post(path, {}, format="json").status_code == 404
        minted = member.post(path, {}, format="json")
        assert minted.status_code == 201, minted.json()
        url = minted.json()["data"]["url"]

        # The connect page admits them the same way, and the link is theirs.
        browser = Client()
        signed_in = browser.post(
            "/oauth/sign-in", {"token": clerk.keys[0].token(sub="user_erin", v=2, o=org)}
        )
        assert signed_in.status_code == 302
        assert link(browser, url, "erin-gh").status_code == 200
        listed = member.get("/api/connections").json()["data"]
    assert [(c["serverId"], c["status"]) for c in listed] == [(server["id"], "connected")]


def test_rotation_reseals_linked_accounts_under_the_newest_key(
    provider, alice, alice_client, settings, encryption_key
):
    server = create_server(alice_client, document(provider.url), provider.url, name="Hub")
    add_client(alice_client, server["id"], provider)
    url = alice_client.post(f"/api/servers/{server['id']}/connections").json()["data"]["url"]
    link(browser_for(alice.email), url, "alice-gh")
    before, issued = Connection.objects.get(), list(provider.access)

    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key, encryption_key]
    call_command("rotate_credentials")
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key]  # the old key retired
    forget_cached()  # a worker that never held the token reads it sealed by the new key

    after = Connection.objects.get()
    assert after.key_id == crypto.key_id_of(new_key) != before.key_id
    assert after.ciphertext != before.ciphertext
    assert "alice-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
    assert provider.seen == issued and provider.refreshes == 0
    # The refresh token survived too: the upstream refuses the access token, one refresh.
    provider.expire_access_tokens()
    assert "alice-gh" in result_text(mcp_call(server["slug"], server["key"], "getMe"))
    assert provider.refreshes == 1 and provider.reuse_detected == 0
    assert Connection.objects.get().key_id == crypto.key_id_of(new_key)


@pytest.mark.services
@pytest.mark.parametrize("lock", ["redis", "database row"])
def test_two_worker_processes_refresh_an_expired_token_once(
    provider, alice, alice_client, encryption_key, tmp_path, lock
):
    require_postgres_and_redis()
    server = create_server(alice_client, document(provider.url), provider.url, name="Hub")
    credential = add_client(alice_client, server["id"], provider)
    url = alice_client.post(f"/api/servers/{server['id']}/connections").json()["data"]["url"]
    link(browser_for(alice.email), url, "alice-gh")
    Connection.objects.update(access_expires_at=timezone.now() - timedelta(minutes=5))
    provider.refresh_delay = 0.5  # both workers ask while the first refresh is in flight

    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": services_database_url(),
        "CREDENTIALS_ENCRYPTION_KEYS": encryption_key,
        "OUTBOUND_ALLOW_PRIVATE": "true",
        # Without Redis the workers hold the connection's row lock instead.
        "REDIS_URL": os.environ["REDIS_URL"] if lock == "redis" else "",
    }
    argv = [credential["id"], server["id"], str(alice.pk), str(tmp_path), "2"]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", REFRESH_WORKER, *argv],
            env=env,
            cwd=Path(django_settings.BASE_DIR),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=60) for worker in workers]

    assert all(worker.returncode == 0 for worker in workers), outputs
    tokens = {out.strip() for out, _ in outputs}
    assert len(tokens) == 1 and next(iter(tokens)).startswith("at-alice-gh-")
    assert provider.refreshes == 1 and provider.reuse_detected == 0
    assert Connection.objects.get().status == "connected"
