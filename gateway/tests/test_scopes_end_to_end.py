"""Least-privilege access keys end to end: keys made through the REST API, config.asgi under
uvicorn, the official MCP client, a real upstream on loopback."""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from authz.tests.endpoints import (
    authorize_params,
    browser_for,
    consent,
    exchange,
    pkce,
    redirect_query,
    register,
)
from core.testing import LoopbackServer, RecordedRequest, json_reply
from gateway.testing import make_key, mcp_post
from gateway.testing import run_mcp as run
from usage.models import RequestLog
from usage.recorder import recorder

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
        "/items/{id}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {"operationId": "getItem", "responses": {"200": {"description": "OK"}}},
            "delete": {"operationId": "deleteItem", "responses": {"204": {"description": "OK"}}},
        },
    },
}
EVERY_TOOL = {"listItems", "createItem", "getItem", "deleteItem"}
READ_ONLY_TOOLS = {"listItems", "getItem"}
MODES = ["auto", "legacy"]


def upstream_answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return json_reply({"ok": True})


@pytest.fixture
def upstream():
    with LoopbackServer(upstream_answer) as server:
        yield server


@pytest.fixture
def shop(alice_client, upstream) -> dict[str, Any]:
    spec = alice_client.post("/api/specs", {"document": SHOP}, format="json")
    assert spec.status_code == 201, spec.json()
    body = {"specId": spec.json()["data"]["id"], "name": "Shop", "baseUrl": upstream.url}
    server = alice_client.post("/api/servers", body, format="json")
    assert server.status_code == 201, server.json()
    return server.json()["data"]


def listed(url: str, key: str, mode: str = "auto") -> set[str]:
    async def work(client):
        return {tool.name for tool in (await client.list_tools()).tools}

    return run(url, key, work, mode)


def call_error(url: str, key: str, tool: str, mode: str = "auto") -> MCPError:
    async def work(client):
        with pytest.raises(MCPError) as raised:
            await client.call_tool(tool, {"id": "7"})
        return raised.value

    return run(url, key, work, mode)


def raw_call(url: str, key: str, tool: str) -> httpx2.Response:
    return mcp_post(url, key, "tools/call", {"name": tool, "arguments": {"id": "7"}})


def flushed_logs(server: dict[str, Any]) -> list[tuple[str, str]]:
    recorder.flush()
    logs = RequestLog.objects.filter(server_id=server["id"]).order_by("created_at")
    return [(log.tool_name, log.error_code) for log in logs]


@pytest.mark.parametrize("mode", MODES)
def test_a_read_only_key_neither_sees_nor_calls_a_destructive_tool(
    alice_client, shop, upstream, live, mode
):
    key = make_key(alice_client, shop["id"], scopes=["tools:call:readonly"])
    url = f"{live}/mcp/{shop['slug']}"

    assert listed(url, key, mode) == READ_ONLY_TOOLS

    async def read(client):
        return await client.call_tool("getItem", {"id": "7"})

    assert run(url, key, read, mode).is_error is False
    assert [request.method for request in upstream.requests] == ["GET"]

    refused = call_error(url, key, "deleteItem", mode)
    assert "needs the scope tools:call" in str(refused)
    response = raw_call(url, key, "deleteItem")
    assert response.status_code == 403
    # An OAuth client learns from the same header where to ask for more (RFC 9728).
    assert response.headers["www-authenticate"] == (
        'Bearer realm="specgate", error="insufficient_scope", '
        'resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource'
        f'/mcp/{shop["slug"]}", scope="tools:call"'
    )
    assert response.json()["error"]["data"] == {
        "tool": "deleteItem",
        "requiredScope": "tools:call",
    }
    # Refused before any upstream call, and logged like any refused call.
    assert [request.method for request in upstream.requests] == ["GET"]
    assert flushed_logs(shop) == [
        ("getItem", ""),
        ("deleteItem", "insufficient_scope"),
        ("deleteItem", "insufficient_scope"),
    ]


def test_a_list_only_key_sees_every_tool_and_calls_none(alice_client, shop, upstream, live):
    key = make_key(alice_client, shop["id"], scopes=["tools:read"])
    url = f"{live}/mcp/{shop['slug']}"

    assert listed(url, key) == EVERY_TOOL
    read = raw_call(url, key, "getItem")
    assert read.status_code == 403
    # The scope that would suffice for this tool: a client may step up to exactly that.
    assert read.headers["www-authenticate"].endswith('scope="tools:call:readonly"')
    write = raw_call(url, key, "createItem")
    assert write.status_code == 403
    assert write.headers["www-authenticate"].endswith('scope="tools:call"')
    assert upstream.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_a_key_with_an_allowlist_sees_and_calls_only_those_tools(
    alice_client, shop, upstream, live, mode
):
    key = make_key(alice_client, shop["id"], tools=["getItem", "deleteItem"])
    url = f"{live}/mcp/{shop['slug']}"

    assert listed(url, key, mode) == {"getItem", "deleteItem"}

    async def delete(client):
        return await client.call_tool("deleteItem", {"id": "7"})

    assert run(url, key, delete, mode).is_error is False
    refused = call_error(url, key, "createItem", mode)
    assert "Tool createItem is not available to this credential" in str(refused)
    # No scope would help: no challenge to step up, just the JSON-RPC error.
    response = raw_call(url, key, "createItem")
    assert response.status_code == 200
    assert "www-authenticate" not in response.headers
    assert response.json()["error"]["data"] == {"tool": "createItem"}
    assert [request.method for request in upstream.requests] == ["DELETE"]
    assert flushed_logs(shop)[-1] == ("createItem", "tool_not_allowed")


def test_an_allowlist_and_a_scope_together(alice_client, shop, upstream, live):
    key = make_key(
        alice_client, shop["id"], scopes=["tools:call:readonly"], tools=["getItem", "deleteItem"]
    )
    url = f"{live}/mcp/{shop['slug']}"

    assert listed(url, key) == {"getItem"}
    assert raw_call(url, key, "deleteItem").status_code == 403
    assert "not available" in raw_call(url, key, "listItems").json()["error"]["message"]
    assert raw_call(url, key, "getItem").json()["result"]["isError"] is False


def test_a_renamed_tool_stays_granted_and_its_old_name_grants_nothing(
    alice_client, shop, upstream, live
):
    key = make_key(alice_client, shop["id"], tools=["getItem"])
    url = f"{live}/mcp/{shop['slug']}"
    assert listed(url, key) == {"getItem"}
    tools = alice_client.get(f"/api/servers/{shop['id']}/tools").json()["data"]
    ids = {tool["name"]: tool["id"] for tool in tools}
    tool_url = f"/api/servers/{shop['id']}/tools"
    alice_client.patch(f"{tool_url}/{ids['getItem']}", {"name": "fetchItem"}, format="json")
    alice_client.patch(f"{tool_url}/{ids['deleteItem']}", {"name": "getItem"}, format="json")

    deadline = time.monotonic() + 5
    while listed(url, key) != {"fetchItem"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed(url, key) == {"fetchItem"}
    assert "not available" in raw_call(url, key, "getItem").json()["error"]["message"]
    assert upstream.requests == []


def test_narrowing_a_key_reaches_the_gateway_within_seconds(alice_client, shop, upstream, live):
    created = alice_client.post(
        f"/api/servers/{shop['id']}/keys", {"name": "agent"}, format="json"
    ).json()["data"]
    key = created["key"]
    url = f"{live}/mcp/{shop['slug']}"
    assert listed(url, key) == EVERY_TOOL

    narrowed = alice_client.patch(
        f"/api/servers/{shop['id']}/keys/{created['id']}",
        {"scopes": ["tools:call:readonly"]},
        format="json",
    )
    assert narrowed.status_code == 200
    deadline = time.monotonic() + 5
    while listed(url, key) != READ_ONLY_TOOLS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed(url, key) == READ_ONLY_TOOLS
    assert raw_call(url, key, "deleteItem").status_code == 403
    assert upstream.requests == []


def test_a_key_whose_allowlisted_tools_all_left_the_spec_sees_and_calls_nothing(
    alice_client, shop, upstream, live
):
    key = make_key(alice_client, shop["id"], tools=["deleteItem"])
    url = f"{live}/mcp/{shop['slug']}"
    assert listed(url, key) == {"deleteItem"}
    document = copy.deepcopy(SHOP)
    del document["paths"]["/items/{id}"]["delete"]
    updated = alice_client.patch(
        f"/api/specs/{shop['specId']}", {"document": document}, format="json"
    )
    assert updated.status_code == 200, updated.json()

    deadline = time.monotonic() + 5
    while listed(url, key) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed(url, key) == set()
    assert "not available" in raw_call(url, key, "getItem").json()["error"]["message"]
    assert upstream.requests == []


def test_an_oauth_grant_narrowed_through_the_api_sees_and_calls_only_its_tools(
    alice, alice_client, shop, upstream, live
):
    """The allowlist and scope of a grant, set after its tokens were issued, bind those tokens
    on every path: tools/list, tools/call, and the dynamic mode's search and execute."""
    client_id = register()
    verifier, challenge = pkce()
    params = authorize_params(client_id, shop["mcpUrl"], challenge)
    code = redirect_query(consent(browser_for(alice.email), params))["code"]
    token = exchange(client_id, code, verifier, shop["mcpUrl"]).json()["access_token"]
    url = f"{live}/mcp/{shop['slug']}"
    assert listed(url, token) == EVERY_TOOL

    (grant,) = alice_client.get("/api/grants").json()["data"]
    narrowed = alice_client.patch(
        f"/api/grants/{grant['id']}",
        {"scopes": ["tools:call:readonly"], "tools": ["getItem", "deleteItem"]},
        format="json",
    )
    assert narrowed.status_code == 200, narrowed.json()
    assert narrowed.json()["data"]["tools"] == ["deleteItem", "getItem"]
    deadline = time.monotonic() + 5
    while listed(url, token) != {"getItem"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed(url, token) == {"getItem"}
    assert raw_call(url, token, "deleteItem").status_code == 403  # the scope: step up
    refused = raw_call(url, token, "listItems")  # the allowlist: nothing to step up to
    assert refused.status_code == 200
    assert "www-authenticate" not in refused.headers
    assert refused.json()["error"]["message"] == (
        "Tool listItems is not available to this credential"
    )
    assert raw_call(url, token, "getItem").json()["result"]["isError"] is False

    dynamic = alice_client.patch(
        f"/api/servers/{shop['id']}", {"toolMode": "dynamic"}, format="json"
    )
    assert dynamic.status_code == 200, dynamic.json()
    deadline = time.monotonic() + 5
    while "search_tools" not in listed(url, token) and time.monotonic() < deadline:
        time.sleep(0.2)

    async def search_and_execute(client):
        found = await client.call_tool("search_tools", {"query": "items", "limit": 20})
        executed = await client.call_tool("execute_tool", {"name": "listItems", "arguments": {}})
        return found, executed

    found, executed = run(url, token, search_and_execute)
    assert {hit["name"] for hit in found.structured_content["results"]} == {"getItem"}
    assert executed.is_error is True
    assert [request.method for request in upstream.requests] == ["GET"]
