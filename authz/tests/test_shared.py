"""Shared servers: users named by an explicit audience (emails, domains, Clerk organisations)
may authorize a client; nobody else, even signed in; shrinking the audience stops their tokens."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from accounts import local_issuer
from accounts.testing import KeyPair, clerk_jwks
from authz.models import Authorization
from config.asgi import mcp_app, registry
from gateway.testing import asgi_post
from usage.limits import reset_local_state
from usage.recorder import recorder

from .endpoints import (
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
def shared(alice_client) -> dict[str, Any]:
    server = make_server(alice_client, "team")
    response = alice_client.patch(
        f"/api/servers/{server['id']}",
        {"visibility": "shared", "audience": ["Bob@Example.com", "partner.example"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["audience"] == ["bob@example.com", "@partner.example"]
    return server


def connect(email: str, server: dict[str, Any], browser: Any = None) -> Any:
    client_id = register()
    verifier, challenge = pkce()
    browser = browser or browser_for(email)
    params = authorize_params(client_id, server["mcpUrl"], challenge)
    page = browser.get("/oauth/authorize", params)
    answered = consent(browser, params)
    if answered.status_code != 302 or "code=" not in answered["Location"]:
        return page, answered, None
    code = redirect_query(answered)["code"]
    tokens = exchange(client_id, code, verifier, server["mcpUrl"]).json()
    return page, answered, {"client_id": client_id, **tokens}


def test_a_user_in_the_audience_connects_and_is_told_the_owner_sees_them(bob, shared):
    page, _, tokens = connect(bob.email, shared)
    assert b"shared with you by its owner" in page.content
    assert tools_list_status(shared["slug"], tokens["access_token"]) == 200


def test_a_whole_domain_can_be_the_audience(shared, django_user_model):
    dana = django_user_model.objects.create_user(
        clerk_id=local_issuer.subject_for_email("dana@partner.example"),
        email="dana@partner.example",
    )
    _, _, tokens = connect(dana.email, shared)
    assert tools_list_status(shared["slug"], tokens["access_token"]) == 200


def test_a_user_outside_the_audience_cannot_authorize(charlie, shared):
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, shared["mcpUrl"], challenge)
    query = redirect_query(browser_for(charlie.email).get("/oauth/authorize", params))
    assert query["error"] == "invalid_target"
    assert not Authorization.objects.exists()


def test_leaving_the_audience_stops_the_tokens(alice_client, bob, shared):
    _, _, tokens = connect(bob.email, shared)
    assert tools_list_status(shared["slug"], tokens["access_token"]) == 200
    alice_client.patch(
        f"/api/servers/{shared['id']}", {"audience": ["@partner.example"]}, format="json"
    )
    assert tools_list_status(shared["slug"], tokens["access_token"]) == 401
    assert (
        refresh(tokens["client_id"], tokens["refresh_token"], shared["mcpUrl"]).status_code == 400
    )


def call_status(slug: str, token: str, tool: str) -> int:
    registry.check_now(slug)
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
    ).encode()
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]
    return asyncio.run(asgi_post(mcp_app, f"/mcp/{slug}", body, headers))


def test_the_owner_sees_who_called_in_the_request_logs(alice_client, bob, shared):
    _, _, tokens = connect(bob.email, shared)
    # One call that goes out (the upstream is unreachable: still a call, still logged) and
    # one answered without calling out (no such tool): both name bob.
    assert call_status(shared["slug"], tokens["access_token"], "listItems") == 200
    assert call_status(shared["slug"], tokens["access_token"], "noSuchTool") == 200
    recorder.flush()
    (grant,) = alice_client.get(f"/api/servers/{shared['id']}/grants").json()["data"]
    for path in ("/api/logs", f"/api/logs?serverId={shared['id']}"):
        logs = alice_client.get(path).json()["data"]
        assert {(log["toolName"], log["callerEmail"]) for log in logs} == {
            ("listItems", "bob@example.com"),
            ("noSuchTool", "bob@example.com"),
        }, path
        assert {log["keyPrefix"] for log in logs} == {grant["keyPrefix"]}


def test_the_owner_sees_who_connected(alice_client, bob, shared):
    connect(bob.email, shared)
    (grant,) = alice_client.get(f"/api/servers/{shared['id']}/grants").json()["data"]
    assert grant["userEmail"] == "bob@example.com"


def test_a_private_server_is_the_owners_alone_again(alice_client, bob, shared):
    _, _, tokens = connect(bob.email, shared)
    alice_client.patch(f"/api/servers/{shared['id']}", {"visibility": "private"}, format="json")
    assert tools_list_status(shared["slug"], tokens["access_token"]) == 401


def test_the_audience_is_validated(alice_client, shared):
    response = alice_client.patch(
        f"/api/servers/{shared['id']}",
        {"audience": ["not an email", "ok@example.com"]},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["audience.0"]


def test_a_shared_server_with_a_static_credential_warns(alice_client, shared):
    assert alice_client.get(f"/api/servers/{shared['id']}").json()["data"]["warnings"] == []
    created = alice_client.post(
        "/api/credentials",
        {"serverId": shared["id"], "type": "bearer", "value": "upstream-secret"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    (warning,) = alice_client.get(f"/api/servers/{shared['id']}").json()["data"]["warnings"]
    assert "every caller" in warning


def test_each_caller_has_a_rate_limit_of_its_own(settings, bob, shared):
    settings.PLAN_ENFORCEMENT = True
    settings.SHARED_CALLER_RPM = 2
    reset_local_state()
    _, _, tokens = connect(bob.email, shared)
    statuses = [tools_list_status(shared["slug"], tokens["access_token"]) for _ in range(3)]
    assert statuses == [200, 200, 429]
    reset_local_state()


@pytest.fixture
def clerk(settings) -> Any:
    """Clerk's JWKS on loopback: the key that signs Clerk session tokens (v2)."""
    with clerk_jwks(settings) as endpoint:
        yield endpoint.keys[0]


def clerk_browser(key: KeyPair, org_id: str | None) -> Any:
    """A browser signed in with a Clerk session token whose active organisation is ORG_ID."""
    from django.test import Client

    org = {"id": org_id, "rol": "org:member", "slg": "team"} if org_id else None
    browser = Client()
    token = key.token(sub="user_erin", v=2, o=org)
    assert browser.post("/oauth/sign-in", {"token": token}).status_code == 302
    return browser


@pytest.fixture
def team(alice_client, shared) -> dict[str, Any]:
    response = alice_client.patch(
        f"/api/servers/{shared['id']}",
        {"audience": ["bob@example.com", " org_2TeamAbc "]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["audience"] == ["bob@example.com", "org_2TeamAbc"]
    return shared


def test_a_member_of_an_organisation_in_the_audience_connects(clerk, team):
    _, _, tokens = connect("", team, clerk_browser(clerk, "org_2TeamAbc"))
    assert tokens is not None
    assert tools_list_status(team["slug"], tokens["access_token"]) == 200
    assert Authorization.objects.get().org_id == "org_2TeamAbc"


@pytest.mark.parametrize("org_id", [None, "org_2Other", "org_2teamabc"])
def test_another_or_no_organisation_is_not_admitted(clerk, team, org_id):
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, team["mcpUrl"], challenge)
    page = clerk_browser(clerk, org_id).get("/oauth/authorize", params)
    assert redirect_query(page)["error"] == "invalid_target"
    assert not Authorization.objects.exists()


def test_removing_the_organisation_stops_its_tokens(alice_client, clerk, team):
    _, _, tokens = connect("", team, clerk_browser(clerk, "org_2TeamAbc"))
    _, _, bobs = connect("bob@example.com", team)
    alice_client.patch(
        f"/api/servers/{team['id']}", {"audience": ["bob@example.com"]}, format="json"
    )
    assert tools_list_status(team["slug"], tokens["access_token"]) == 401
    assert refresh(tokens["client_id"], tokens["refresh_token"], team["mcpUrl"]).status_code == 400
    assert tools_list_status(team["slug"], bobs["access_token"]) == 200


def test_a_client_cannot_claim_an_organisation(clerk, team):
    """The code keeps the organisation of the sign-in, whatever `claims` the client sends."""
    client_id = register()
    _, challenge = pkce()
    params = authorize_params(client_id, team["mcpUrl"], challenge)
    params["claims"] = '{"specgate_org": "org_2TeamAbc"}'
    page = clerk_browser(clerk, None).get("/oauth/authorize", params)
    assert redirect_query(page)["error"] == "invalid_target"


def test_organisation_entries_are_validated(alice_client, team):
    for entry in ("org_", "org_2Team-Abc", "ORG_2TeamAbc"):
        response = alice_client.patch(
            f"/api/servers/{team['id']}", {"audience": [entry]}, format="json"
        )
        assert response.status_code == 400, entry
