"""What a client reads and calls before anyone signs in: the metadata documents, registration
(open, rate-limited, expiring), CORS for browser-based clients; and the sign-in page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import Application

from accounts import local_issuer
from accounts.services import api_token_create
from authz.services import unused_clients_delete
from authz.tasks import delete_unused_clients
from usage import ratelimit

from .endpoints import make_server, register

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:8000"


def test_the_authorization_server_metadata(anon_client):
    document = Client().get("/.well-known/oauth-authorization-server").json()
    assert document["issuer"] == f"{BASE}/"
    assert document["authorization_endpoint"] == f"{BASE}/oauth/authorize"
    assert document["token_endpoint"] == f"{BASE}/oauth/token"
    assert document["registration_endpoint"] == f"{BASE}/oauth/register"
    assert document["revocation_endpoint"] == f"{BASE}/oauth/revoke"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["client_id_metadata_document_supported"] is True
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["scopes_supported"] == ["tools:read", "tools:call:readonly", "tools:call"]
    assert "none" in document["token_endpoint_auth_methods_supported"]


def test_the_protected_resource_metadata_names_exactly_the_mcp_url(alice_client):
    server = make_server(alice_client, "shop")
    response = Client().get("/.well-known/oauth-protected-resource/mcp/shop")
    assert response.status_code == 200
    document = response.json()
    assert document["resource"] == server["mcpUrl"] == f"{BASE}/mcp/shop"
    assert document["authorization_servers"] == [f"{BASE}/"]
    assert document["scopes_supported"] == ["tools:read", "tools:call:readonly", "tools:call"]


def test_public_and_unknown_servers_have_no_resource_metadata(alice_client):
    server = make_server(alice_client, "open")
    alice_client.patch(f"/api/servers/{server['id']}", {"visibility": "public"}, format="json")
    for slug in ("open", "nothing-here"):
        response = Client().get(f"/.well-known/oauth-protected-resource/mcp/{slug}")
        assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server",
        "/oauth/register",
        "/oauth/token",
        "/oauth/revoke",
    ],
)
def test_browser_based_clients_get_cors(path):
    preflight = Client().options(
        path,
        HTTP_ORIGIN="http://localhost:6274",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "content-type" in preflight["Access-Control-Allow-Headers"]


def test_registration_is_open_to_anonymous_public_clients():
    response = Client().post(
        "/oauth/register",
        json.dumps(
            {
                "client_name": "Inspector",
                "redirect_uris": ["http://localhost:6274/oauth/callback"],
                "token_endpoint_auth_method": "none",
            }
        ),
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:6274",
    )
    assert response.status_code == 201
    body = response.json()
    assert "client_secret" not in body
    assert body["token_endpoint_auth_method"] == "none"
    assert response["Access-Control-Allow-Origin"] == "*"
    client = Application.objects.get(client_id=body["client_id"])
    assert (client.client_type, client.registration_source) == ("public", "dcr")


def test_registration_is_rate_limited_per_address(settings):
    settings.OAUTH_REGISTRATIONS_PER_MINUTE = 2
    ratelimit.reset_local()
    body = json.dumps({"redirect_uris": ["http://127.0.0.1:1/cb"], "client_name": "x"})

    def attempt(address: str) -> int:
        return (
            Client(REMOTE_ADDR=address)
            .post("/oauth/register", body, content_type="application/json")
            .status_code
        )

    assert [attempt("203.0.113.7") for _ in range(3)] == [201, 201, 429]
    assert attempt("203.0.113.8") == 201


def test_unused_registrations_expire(settings):
    settings.OAUTH_UNUSED_CLIENT_HOURS = 1
    old = register()
    Application.objects.filter(client_id=old).update(created=timezone.now() - timedelta(hours=2))
    fresh = register()
    assert delete_unused_clients.delay().get() == 1
    assert set(Application.objects.values_list("client_id", flat=True)) == {fresh}
    assert unused_clients_delete() == 0


def test_sign_in_with_a_personal_api_token(alice):
    _, secret = api_token_create(user=alice, name="cli", expires_at=None)
    browser = Client()
    response = browser.post("/oauth/sign-in", {"token": secret})
    assert response.status_code == 302
    assert browser.session["authz_user"] == str(alice.pk)
    # Not a Django login: the admin stays closed.
    assert "_auth_user_id" not in browser.session


def test_sign_in_refuses_bad_tokens_and_foreign_next_urls(alice):
    refused = Client().post("/oauth/sign-in", {"token": "sgp_not-a-token"})
    assert refused.status_code == 400
    assert b"invalid or expired" in refused.content
    token = local_issuer.mint_token(alice.email)
    response = Client().post("/oauth/sign-in", {"token": token, "next": "https://evil.example/"})
    assert response["Location"] == "/oauth/signed-in"


def test_sign_in_is_csrf_protected(alice):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/oauth/sign-in", {"token": local_issuer.mint_token(alice.email)})
    assert response.status_code == 403


def test_with_clerk_the_sign_in_page_sends_the_browser_to_clerk(settings):
    settings.CLERK_SIGN_IN_URL = "https://accounts.example.com/sign-in"
    response = Client().get("/oauth/sign-in", {"next": "/oauth/authorize?client_id=x"})
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("https://accounts.example.com/sign-in?redirect_url=")
    assert "oauth%2Fsign-in%3Fnext%3D%252Foauth%252Fauthorize" in location


def test_with_clerk_the_returning_session_cookie_signs_in(settings, alice):
    settings.CLERK_SIGN_IN_URL = "https://accounts.example.com/sign-in"
    browser = Client()
    browser.cookies["__session"] = local_issuer.mint_token(alice.email)
    response = browser.get("/oauth/sign-in", {"next": "/oauth/authorize?client_id=x"})
    assert response.status_code == 302
    assert response["Location"] == "/oauth/authorize?client_id=x"
    assert browser.session["authz_user"] == str(alice.pk)
