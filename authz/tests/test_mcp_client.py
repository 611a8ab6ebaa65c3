"""The official `mcp` client connects to a private server through the whole OAuth flow, end to
end against config.asgi under uvicorn and a real upstream on loopback: discovery from the 401,
dynamic registration, PKCE, consent by a signed-in person, token, tools, refresh, revocation."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from oauth2_provider.models import Application

from authz.models import Authorization
from config.asgi import registry
from core.testing import LoopbackServer, RecordedRequest, json_reply

from .flow import REDIRECT_URI, Browser, McpOAuthClient, oauth_live, tool_names
from .metadata_host import serving

pytestmark = pytest.mark.django_db(transaction=True)

SHOP: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Shop", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:1"}],
    "paths": {
        "/items": {
            "get": {"operationId": "listItems", "responses": {"200": {"description": "OK"}}},
            "post": {"operationId": "createItem", "responses": {"201": {"description": "OK"}}},
        },
    },
}


def upstream_answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return json_reply({"ok": True})


@pytest.fixture
def upstream():
    with LoopbackServer(upstream_answer) as server:
        yield server


@pytest.fixture
def live(settings):
    with oauth_live(settings) as url:
        yield url


def make_server(client, upstream: LoopbackServer, name: str = "Shop") -> dict[str, Any]:
    spec = client.post("/api/specs", {"document": SHOP}, format="json")
    assert spec.status_code == 201, spec.json()
    body = {"specId": spec.json()["data"]["id"], "name": name, "baseUrl": upstream.url}
    server = client.post("/api/servers", body, format="json")
    assert server.status_code == 201, server.json()
    return server.json()["data"]


def raw_list(url: str, token: str) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return httpx2.post(url, json=body, headers=headers)


def raw_call(url: str, token: str, tool: str) -> httpx2.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {}},
    }
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return httpx2.post(url, json=body, headers=headers)


def test_the_official_client_connects_with_oauth_and_keeps_working(
    live, alice, alice_client, upstream
):
    server = make_server(alice_client, upstream)
    url = server["mcpUrl"]
    assert url == f"{live}/mcp/{server['slug']}"
    agent = McpOAuthClient(url, Browser(alice.email))

    async def work(client):
        listed = await client.list_tools()
        called = await client.call_tool("createItem", {})
        return listed, called

    listed, called = agent.run(work)

    assert tool_names(listed) == {"listItems", "createItem"}
    assert called.is_error is False
    assert upstream.requests[-1].method == "POST"
    # The person saw the consent page, for this server, for an unverified client.
    assert "Test agent" in agent.browser.pages[0]
    assert "Unverified client" in agent.browser.pages[0]
    tokens = agent.storage.tokens
    assert tokens is not None and tokens.refresh_token and tokens.scope == "tools:call"
    grant = Authorization.objects.get()
    assert (grant.user_id, grant.resource, grant.scope) == (alice.pk, url, "tools:call")

    # Refresh: the client swaps its refresh token for a new pair (rotation).
    first_refresh = tokens.refresh_token
    agent.expire_access_token()

    async def list_again(client):
        return await client.list_tools()

    assert tool_names(agent.run(list_again)) == {"listItems", "createItem"}
    assert agent.storage.tokens is not None
    assert agent.storage.tokens.refresh_token != first_refresh
    assert len(agent.authorization_urls) == 1  # no second trip to the browser

    # Revocation (RFC 7009): the access token stops working at once on the gateway.
    access = agent.storage.tokens.access_token
    assert raw_list(url, access).status_code == 200
    client_id = agent.storage.client_info.client_id  # type: ignore[union-attr]
    revoked = httpx2.post(
        f"{live}/oauth/revoke",
        data={"token": agent.storage.tokens.refresh_token, "client_id": client_id},
    )
    assert revoked.status_code == 200
    registry.check_now(server["slug"])
    assert raw_list(url, access).status_code == 401
    assert Authorization.objects.get().revoked_at is not None


def test_a_read_only_grant_neither_lists_nor_calls_a_destructive_tool(
    live, alice, alice_client, upstream
):
    server = make_server(alice_client, upstream)
    # The client asks for everything (the 401 says "tools:call"); the person grants less.
    agent = McpOAuthClient(server["mcpUrl"], Browser(alice.email, scope="tools:call:readonly"))

    async def work(client):
        return await client.list_tools(), await client.call_tool("listItems", {})

    listed, read = agent.run(work)

    assert tool_names(listed) == {"listItems"}
    assert read.is_error is False
    # A destructive tool: 403 naming the scope to step up to (the client would ask the person
    # again; this one asks the endpoint directly).
    token = agent.storage.tokens.access_token  # type: ignore[union-attr]
    refused = raw_call(server["mcpUrl"], token, "createItem")
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and challenge.endswith('scope="tools:call"')
    assert all(request.method == "GET" for request in upstream.requests)
    assert Authorization.objects.get().scope == "tools:call:readonly"


def test_a_token_works_only_on_the_server_it_was_issued_for(live, alice, alice_client, upstream):
    a = make_server(alice_client, upstream, name="a")
    b = make_server(alice_client, upstream, name="b")
    longer = make_server(alice_client, upstream, name="a-b")
    assert longer["mcpUrl"].startswith(a["mcpUrl"])
    agent = McpOAuthClient(a["mcpUrl"], Browser(alice.email))

    async def work(client):
        return await client.list_tools()

    agent.run(work)
    token = agent.storage.tokens.access_token  # type: ignore[union-attr]

    assert raw_list(a["mcpUrl"], token).status_code == 200
    for other in (b, longer):
        refused = raw_list(other["mcpUrl"], token)
        assert refused.status_code == 401
        assert "invalid_token" in refused.headers["www-authenticate"]


def test_a_client_with_a_metadata_document_connects_as_a_verified_client(
    live, trusted, host_for, alice, alice_client, upstream
):
    server = make_server(alice_client, upstream)
    host = host_for(serving(client_name="Doc Agent", redirect_uris=[REDIRECT_URI]))
    document = host.document_url()
    agent = McpOAuthClient(server["mcpUrl"], Browser(alice.email), client_metadata_url=document)

    async def work(client):
        return await client.list_tools()

    assert tool_names(agent.run(work)) == {"listItems", "createItem"}
    page = agent.browser.pages[0]
    assert "Doc Agent" in page and "Verified client" in page
    client = Application.objects.get()  # no dynamic registration happened
    assert (client.client_id, client.registration_source) == (document, "cimd")
    assert Authorization.objects.get().application == client


def test_an_unauthenticated_request_points_at_the_metadata(live, alice, alice_client, upstream):
    server = make_server(alice_client, upstream)
    response = httpx2.post(
        server["mcpUrl"],
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json", "Origin": live},
    )
    assert response.status_code == 401
    metadata_url = f"{live}/.well-known/oauth-protected-resource/mcp/{server['slug']}"
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="specgate", resource_metadata="{metadata_url}", scope="tools:call"'
    )
    assert "www-authenticate" in response.headers["access-control-expose-headers"]
    assert httpx2.get(metadata_url).json()["resource"] == server["mcpUrl"]
