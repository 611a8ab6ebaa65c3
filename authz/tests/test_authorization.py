"""The authorization and token endpoints refuse what they must: the hostile cases of MCP
authorization, each as a client or an attacker would try it."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from accounts import local_issuer
from authz import tokens
from authz.models import Authorization
from authz.services import code_mark_used

from .endpoints import (
    ISSUER,
    authorize_params,
    browser_for,
    consent,
    exchange,
    make_server,
    pkce,
    redirect_query,
    refresh,
    register,
    tools_list_status,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(alice_client) -> dict[str, Any]:
    return make_server(alice_client, "shop")


@pytest.fixture
def granted(alice, shop) -> dict[str, Any]:
    """A client that went through the whole flow for alice's shop: its tokens."""
    client_id = register()
    verifier, challenge = pkce()
    code = redirect_query(
        consent(browser_for(alice.email), authorize_params(client_id, shop["mcpUrl"], challenge))
    )["code"]
    response = exchange(client_id, code, verifier, shop["mcpUrl"])
    assert response.status_code == 200, response.content
    return {"client_id": client_id, **response.json()}


def test_approval_redirects_with_code_state_and_issuer(alice, shop):
    client_id = register()
    _, challenge = pkce()
    query = redirect_query(
        consent(browser_for(alice.email), authorize_params(client_id, shop["mcpUrl"], challenge))
    )
    assert query["state"] == "s-123"
    assert query["iss"] == ISSUER
    grant = Grant.objects.get()
    # Stored hashed: the database never holds the code itself.
    assert grant.code == hashlib.sha256(query["code"].encode()).hexdigest()
    assert (grant.expires - timezone.now()).total_seconds() < 60
    assert grant.resource == [shop["mcpUrl"]]


def test_denial_redirects_with_access_denied(alice, shop):
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, shop["mcpUrl"], challenge)
    query = redirect_query(consent(browser_for(alice.email), params, allow=False))
    assert (query["error"], query["state"], query["iss"]) == ("access_denied", "s-123", ISSUER)
    assert not Grant.objects.exists()


def test_the_token_is_bound_to_the_server_and_stored_hashed(alice, shop, granted):
    claims = tokens.verify(
        granted["access_token"], resource=shop["mcpUrl"], issuer=ISSUER, key=tokens.signing_key()
    )
    assert claims is not None and claims.user_id == str(alice.pk)
    assert granted["scope"] == "tools:call"
    assert granted["expires_in"] <= 300
    assert tools_list_status(shop["slug"], granted["access_token"]) == 200
    # Hashed at rest: the database holds checksums only.
    assert set(AccessToken.objects.values_list("token", flat=True)) == {""}
    assert set(RefreshToken.objects.values_list("token", flat=True)) == {""}


def test_authorizing_again_keeps_the_tools_the_grant_was_narrowed_to(
    alice, alice_client, shop, granted
):
    (grant,) = alice_client.get("/api/grants").json()["data"]
    narrowed = alice_client.patch(
        f"/api/grants/{grant['id']}", {"tools": ["listItems"]}, format="json"
    )
    assert narrowed.status_code == 200, narrowed.json()
    verifier, challenge = pkce()
    params = authorize_params(granted["client_id"], shop["mcpUrl"], challenge)
    browser = browser_for(alice.email)
    page = browser.get("/oauth/authorize", params)
    assert b"stays limited to it: listItems." in page.content
    code = redirect_query(consent(browser, params))["code"]
    assert exchange(granted["client_id"], code, verifier, shop["mcpUrl"]).status_code == 200
    (again,) = alice_client.get("/api/grants").json()["data"]
    assert (again["id"], again["tools"]) == (grant["id"], ["listItems"])


def test_a_signed_out_browser_is_sent_to_sign_in_first(alice, shop):
    client_id = register()
    _, challenge = pkce()
    response = Client().get(
        "/oauth/authorize", authorize_params(client_id, shop["mcpUrl"], challenge)
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/sign-in?next=%2Foauth%2Fauthorize")


def test_the_consent_page_cannot_be_framed(alice, shop):
    client_id = register()
    _, challenge = pkce()
    page = browser_for(alice.email).get(
        "/oauth/authorize", authorize_params(client_id, shop["mcpUrl"], challenge)
    )
    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert b"Unverified client" in page.content
    sign_in = Client().get("/oauth/sign-in")
    assert sign_in["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in sign_in["Content-Security-Policy"]


def test_a_wrong_redirect_uri_is_never_redirected_to(alice, shop):
    client_id = register()
    _, challenge = pkce()
    for wrong in ("http://127.0.0.1:9999/callback/", "http://evil.example/callback"):
        params = authorize_params(client_id, shop["mcpUrl"], challenge, redirect_uri=wrong)
        page = browser_for(alice.email).get("/oauth/authorize", params)
        assert page.status_code == 400
        assert "Location" not in page


@pytest.mark.parametrize(
    "pkce_params",
    [{"code_challenge": ""}, {"code_challenge_method": "plain"}],
    ids=["missing", "plain"],
)
def test_pkce_s256_is_required(alice, shop, pkce_params):
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, shop["mcpUrl"], challenge, **pkce_params)
    params = {key: value for key, value in params.items() if value}
    query = redirect_query(browser_for(alice.email).get("/oauth/authorize", params))
    assert query["error"] == "invalid_request"
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "resource",
    [None, "http://127.0.0.1:8000/mcp/shop/", "http://127.0.0.1:8000/mcp/sho", "https://x.example"],
    ids=["none", "trailing-slash", "prefix", "elsewhere"],
)
def test_authorization_needs_exactly_the_mcp_url(alice, shop, resource):
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, resource, challenge)
    query = redirect_query(browser_for(alice.email).get("/oauth/authorize", params))
    assert query["error"] == "invalid_target"


def test_nobody_but_the_owner_authorizes_a_private_server(alice, bob, shop):
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, shop["mcpUrl"], challenge)
    query = redirect_query(browser_for(bob.email).get("/oauth/authorize", params))
    assert query["error"] == "invalid_target"


def test_a_wrong_or_missing_pkce_verifier_gets_no_token(alice, shop):
    client_id = register()
    _, challenge = pkce()
    for verifier in ("not-the-verifier-" + "x" * 40, None):
        code = redirect_query(
            consent(
                browser_for(alice.email), authorize_params(client_id, shop["mcpUrl"], challenge)
            )
        )["code"]
        response = exchange(client_id, code, verifier, shop["mcpUrl"])
        assert response.status_code == 400
        assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert not Authorization.objects.exists()


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(alice, shop):
    client_id = register()
    verifier, challenge = pkce()
    code = redirect_query(
        consent(browser_for(alice.email), authorize_params(client_id, shop["mcpUrl"], challenge))
    )["code"]
    issued = exchange(client_id, code, verifier, shop["mcpUrl"])
    assert issued.status_code == 200
    assert tools_list_status(shop["slug"], issued.json()["access_token"]) == 200
    replayed = exchange(client_id, code, verifier, shop["mcpUrl"])
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    # Whoever replayed it may hold what the first exchange got: none of it works any more.
    assert tools_list_status(shop["slug"], issued.json()["access_token"]) == 401
    assert refresh(client_id, issued.json()["refresh_token"], shop["mcpUrl"]).status_code == 400
    assert Authorization.objects.get().revoked_at is not None


def test_a_code_exchanged_twice_at_once_revokes_the_grant(alice, shop, granted):
    """Two exchanges that both passed validation before either marked the code used: the
    second to mark it is refused, and the grant goes as on a replay."""
    grant = Authorization.objects.select_related("application", "server").get()
    used = {
        "code_hash": "a" * 64,
        "application": grant.application,
        "authorization": grant,
        "expires": timezone.now(),
    }
    assert code_mark_used(**used) is True
    assert code_mark_used(**used) is False
    assert tools_list_status(shop["slug"], granted["access_token"]) == 401


@pytest.mark.parametrize("resource", [None, "http://127.0.0.1:8000/mcp/other"])
def test_the_code_exchange_needs_the_same_resource(alice, shop, resource):
    client_id = register()
    verifier, challenge = pkce()
    code = redirect_query(
        consent(browser_for(alice.email), authorize_params(client_id, shop["mcpUrl"], challenge))
    )["code"]
    response = exchange(client_id, code, verifier, resource)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_refresh_rotates_and_needs_the_resource(shop, granted):
    missing = refresh(granted["client_id"], granted["refresh_token"], None)
    assert missing.json()["error"] == "invalid_target"
    rotated = refresh(granted["client_id"], granted["refresh_token"], shop["mcpUrl"])
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["refresh_token"] != granted["refresh_token"]
    assert tools_list_status(shop["slug"], rotated.json()["access_token"]) == 200


def test_a_replayed_refresh_token_revokes_the_whole_grant(shop, granted):
    rotated = refresh(granted["client_id"], granted["refresh_token"], shop["mcpUrl"]).json()
    replayed = refresh(granted["client_id"], granted["refresh_token"], shop["mcpUrl"])
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    # The thief's replay costs the rightful holder its family too: both must sign in again.
    assert (
        refresh(granted["client_id"], rotated["refresh_token"], shop["mcpUrl"]).status_code == 400
    )
    assert Authorization.objects.get().revoked_at is not None
    assert tools_list_status(shop["slug"], rotated["access_token"]) == 401


def test_revoking_the_access_token_stops_it_on_the_gateway(shop, granted):
    assert tools_list_status(shop["slug"], granted["access_token"]) == 200
    response = Client().post(
        "/oauth/revoke", {"token": granted["access_token"], "client_id": granted["client_id"]}
    )
    assert response.status_code == 200
    assert tools_list_status(shop["slug"], granted["access_token"]) == 401
    assert (
        refresh(granted["client_id"], granted["refresh_token"], shop["mcpUrl"]).status_code == 400
    )


def test_the_gateway_refuses_tokens_it_did_not_issue_for_this_server(alice, shop, settings):
    grant_id = "00000000-0000-0000-0000-000000000000"

    def token(**overrides: Any) -> str:
        fields = {
            "grant_id": grant_id,
            "user_id": str(alice.pk),
            "resource": shop["mcpUrl"],
            "scope": "tools:call",
            "client_id": "c",
            "lifetime": 300,
        }
        return tokens.mint(**{**fields, **overrides})

    assert tools_list_status(shop["slug"], token()) == 200
    assert tools_list_status(shop["slug"], token(lifetime=-120)) == 401  # expired
    assert tools_list_status(shop["slug"], token(resource="")) == 401  # no resource
    assert tools_list_status(shop["slug"], token(resource=f"{shop['mcpUrl']}/")) == 401
    assert tools_list_status(shop["slug"], token(user_id="someone-else")) == 401
    settings.SECRET_KEY = "another deployment's secret key, long enough to be a key"
    assert tools_list_status(shop["slug"], token()) == 401  # signed with another key


def test_a_session_token_is_not_an_access_token(alice, shop):
    session_token = local_issuer.mint_token(alice.email)
    assert tools_list_status(shop["slug"], session_token) == 401


def test_a_token_the_gateway_remembers_still_expires(alice, shop):
    grant_id = "00000000-0000-0000-0000-000000000001"
    token = tokens.mint(
        grant_id=grant_id,
        user_id=str(alice.pk),
        resource=shop["mcpUrl"],
        scope="tools:call",
        client_id="c",
        lifetime=2,
    )
    assert tools_list_status(shop["slug"], token) == 200
    assert tools_list_status(shop["slug"], token) == 200  # from the worker's memory
    time.sleep(2.1)
    assert tools_list_status(shop["slug"], token) == 401


def test_a_metadata_document_on_a_private_address_is_never_fetched(alice, shop, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    _, challenge = pkce()
    params = authorize_params("https://10.0.0.1/clients/agent.json", shop["mcpUrl"], challenge)
    page = browser_for(alice.email).get("/oauth/authorize", params)
    assert page.status_code == 400
    assert "Location" not in page
    assert b"invalid_client" in page.content
    assert not Application.objects.exists()
