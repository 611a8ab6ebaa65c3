"""The dynamic mode end to end: REST API → config.asgi under uvicorn → official MCP client →
a real upstream on loopback, with a trimmed excerpt of GitHub's real spec (20 paths, 40
operations, its schemas as published; only examples and webhooks taken out)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from config.asgi import application, registry
from core.testing import LoopbackServer, RecordedRequest
from gateway.testing import serve_on_loopback
from tools.definitions import encode_json, estimated_tokens
from tools.models import Tool
from usage.models import RequestLog
from usage.recorder import recorder

GITHUB = (Path(__file__).parent / "github-excerpt.openapi.json").read_text()
META = {"search_tools", "describe_tools", "execute_tool"}
NEW_ISSUE = {
    "owner": "octo-org",
    "repo": "hello world",
    "title": "Crash on start",
    "body": "Steps: run it.",
    "labels": ["bug", {"name": "p1"}],
    "assignees": ["mona"],
}
pytestmark = pytest.mark.django_db(transaction=True)


def upstream_answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    body = {"number": 7, "title": "Crash on start", "state": "open"}
    return 201, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def upstream():
    with LoopbackServer(upstream_answer) as server:
        yield server


@pytest.fixture
def live(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    registry.forget()
    with serve_on_loopback(application) as url:
        yield url


def make_server(client, upstream_url: str, spec: str = GITHUB, **extra: Any) -> dict[str, Any]:
    created = client.post("/api/specs", {"content": spec}, format="json")
    assert created.status_code == 201, created.json()
    body = {"specId": created.json()["data"]["id"], "name": "GitHub", "baseUrl": upstream_url}
    server = client.post("/api/servers", body | extra, format="json")
    assert server.status_code == 201, server.json()
    data = server.json()["data"]
    key = client.post(f"/api/servers/{data['id']}/keys", {"name": "agent"}, format="json")
    return data | {"key": key.json()["data"]["key"]}


def run(live: str, server: dict[str, Any], work):
    async def session():
        headers = {"Authorization": f"Bearer {server['key']}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            Client(streamable_http_client(f"{live}/mcp/{server['slug']}", http_client=http)) as c,
        ):
            return await work(c)

    return asyncio.run(session())


def rpc(live: str, server: dict[str, Any], method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One raw JSON-RPC request (handshake era), to compare bytes the client would re-shape."""
    response = httpx2.post(
        f"{live}/mcp/{server['slug']}",
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        headers={
            "Authorization": f"Bearer {server['key']}",
            "Accept": "application/json, text/event-stream",
        },
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]


def full_listing(live: str, server: dict[str, Any]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    while True:
        page = rpc(live, server, "tools/list", params)
        tools += page["tools"]
        if "nextCursor" not in page:
            return tools
        params = {"cursor": page["nextCursor"]}


def sent(request: RecordedRequest) -> tuple[Any, ...]:
    """What reached the upstream, less what differs between any two requests."""
    headers = sorted(
        (name.lower(), value)
        for name, value in request.headers.items()
        if name.lower() not in {"traceparent", "x-request-id"}
    )
    return request.method, request.path, headers, request.body


def test_search_describe_and_execute_with_the_official_client(alice_client, upstream, live):
    dynamic = make_server(alice_client, upstream.url, toolMode="dynamic")
    normal = make_server(alice_client, upstream.url, toolMode="all")

    async def work(client):
        listed = await client.list_tools()
        found = await client.call_tool(
            "search_tools", {"query": "create a new issue in a repository", "limit": 5}
        )
        described = await client.call_tool("describe_tools", {"names": ["issues_create"]})
        executed = await client.call_tool(
            "execute_tool", {"name": "issues_create", "arguments": NEW_ISSUE}
        )
        return listed, found, described, executed

    listed, found, described, executed = run(live, dynamic, work)

    assert {tool.name for tool in listed.tools} == META
    annotations = {tool.name: tool.annotations for tool in listed.tools}
    assert annotations["search_tools"].read_only_hint is True
    assert annotations["describe_tools"].read_only_hint is True
    assert annotations["execute_tool"].read_only_hint is False
    assert annotations["execute_tool"].idempotent_hint is False
    meta_listing = rpc(live, dynamic, "tools/list", {})
    assert "nextCursor" not in meta_listing
    assert estimated_tokens(len(encode_json(meta_listing))) < 2000

    assert found.is_error is False
    results = found.structured_content["results"]
    assert results[0] == {
        "name": "issues_create",
        "description": "Create an issue",
        "method": "POST",
        "path": "/repos/{owner}/{repo}/issues",
    }
    search_tool = next(tool for tool in listed.tools if tool.name == "search_tools")
    Draft202012Validator(search_tool.output_schema).validate(found.structured_content)
    assert "issues_create: POST /repos/{owner}/{repo}/issues" in found.content[0].text

    # Exactly the definition the normal mode lists, byte for byte.
    normal_definition = next(t for t in full_listing(live, normal) if t["name"] == "issues_create")
    assert described.structured_content == {"tools": [normal_definition], "unknown": []}
    raw = rpc(
        live,
        dynamic,
        "tools/call",
        {"name": "describe_tools", "arguments": {"names": ["issues_create"]}},
    )
    assert encode_json(raw["structuredContent"]["tools"][0]) == encode_json(normal_definition)

    # execute_tool sends what a direct call sends, and answers what it answers.
    via_execute = upstream.requests[-1]

    async def direct(client):
        return await client.call_tool("issues_create", NEW_ISSUE)

    called = run(live, dynamic, direct)
    assert sent(via_execute) == sent(upstream.requests[-1])
    assert via_execute.method == "POST"
    assert via_execute.path == "/repos/octo-org/hello%20world/issues"
    assert json.loads(via_execute.body) == {
        key: NEW_ISSUE[key] for key in ("title", "body", "labels", "assignees")
    }
    assert executed.is_error is False
    assert executed.structured_content == called.structured_content
    assert [c.model_dump() for c in executed.content] == [c.model_dump() for c in called.content]

    # One log per call, under the real tool's id and name; searching and describing log none.
    recorder.flush()
    logs = list(RequestLog.objects.filter(server_id=dynamic["id"]))
    tool = Tool.objects.get(server_id=dynamic["id"], name="issues_create")
    assert [(log.tool_id, log.tool_name, log.status_code) for log in logs] == [
        (tool.pk, "issues_create", 201),
        (tool.pk, "issues_create", 201),
    ]


def test_execute_validates_like_a_direct_call_and_logs_once(alice_client, upstream, live):
    server = make_server(alice_client, upstream.url, toolMode="dynamic")
    bad = {"owner": "octo-org", "repo": "hello", "title": "x", "assignees": "mona"}

    async def work(client):
        via_execute = await client.call_tool(
            "execute_tool", {"name": "issues_create", "arguments": bad}
        )
        direct = await client.call_tool("issues_create", bad)
        unknown = await client.call_tool("execute_tool", {"name": "no_such_tool"})
        malformed = await client.call_tool("execute_tool", {"arguments": {}})
        too_many = await client.call_tool("search_tools", {"query": "issues", "limit": 21})
        return via_execute, direct, unknown, malformed, too_many

    via_execute, direct, unknown, malformed, too_many = run(live, server, work)
    assert via_execute.is_error is True
    assert via_execute.content[0].text == direct.content[0].text
    assert "assignees: 'mona' is not of type 'array'" in via_execute.content[0].text
    assert unknown.is_error is True
    assert "Unknown tool: no_such_tool" in unknown.content[0].text
    assert malformed.is_error is True
    assert "'name' is a required property" in malformed.content[0].text
    assert too_many.is_error is True
    assert "21 is greater than the maximum of 20" in too_many.content[0].text
    assert upstream.requests == []
    recorder.flush()
    logged = RequestLog.objects.filter(server_id=server["id"]).order_by("created_at")
    assert [(log.tool_name, log.succeeded) for log in logged] == [
        ("issues_create", False),
        ("issues_create", False),
        ("no_such_tool", False),
    ]


def test_a_disabled_tool_is_neither_found_described_nor_executed(alice_client, upstream, live):
    server = make_server(alice_client, upstream.url, toolMode="dynamic")
    tool = Tool.objects.get(server_id=server["id"], name="issues_create")
    response = alice_client.patch(
        f"/api/servers/{server['id']}/tools/{tool.pk}", {"enabled": False}, format="json"
    )
    assert response.status_code == 200, response.json()

    async def work(client):
        found = await client.call_tool("search_tools", {"query": "create an issue", "limit": 20})
        described = await client.call_tool("describe_tools", {"names": ["issues_create"]})
        executed = await client.call_tool(
            "execute_tool", {"name": "issues_create", "arguments": NEW_ISSUE}
        )
        return found, described, executed

    found, described, executed = run(live, server, work)
    assert "issues_create" not in {hit["name"] for hit in found.structured_content["results"]}
    assert found.structured_content["results"]  # other tools still match
    assert described.is_error is True
    assert described.structured_content == {"tools": [], "unknown": ["issues_create"]}
    assert executed.is_error is True
    assert "Unknown tool: issues_create" in executed.content[0].text
    assert upstream.requests == []


CLASHING_SPEC = """
openapi: 3.0.3
info: {title: Clash, version: "1"}
paths:
  /search:
    get:
      operationId: search_tools
      summary: Search the catalogue for products
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
"""


def test_a_real_tool_named_like_a_meta_tool_is_reached_through_execute(
    alice_client, upstream, live
):
    server = make_server(alice_client, upstream.url, spec=CLASHING_SPEC, toolMode="dynamic")

    async def work(client):
        listed = await client.list_tools()
        meta = await client.call_tool("search_tools", {"query": "catalogue products"})
        real = await client.call_tool(
            "execute_tool", {"name": "search_tools", "arguments": {"q": "lamp"}}
        )
        described = await client.call_tool("describe_tools", {"names": ["search_tools"]})
        return listed, meta, real, described

    listed, meta, real, described = run(live, server, work)
    assert len(listed.tools) == 3
    # In dynamic mode the name means the meta-tool...
    assert meta.structured_content["results"][0]["path"] == "/search"
    # ... and the server's own tool of that name is found, described and executed.
    assert described.structured_content["tools"][0]["inputSchema"]["required"] == ["q"]
    assert real.is_error is False
    assert upstream.requests[-1].path == "/search?q=lamp"


def test_auto_mode_follows_the_token_budget_and_detail_reports_the_size(
    alice_client, upstream, live, settings
):
    settings.TOOLS_DYNAMIC_TOKEN_BUDGET = 10**9
    server = make_server(alice_client, upstream.url)
    assert server["toolMode"] == "auto"
    assert server["effectiveToolMode"] == "all"
    listing = full_listing(live, server)
    assert len(listing) == 40
    size = len(encode_json({"tools": listing}))
    detail = alice_client.get(f"/api/servers/{server['id']}").json()["data"]
    assert (detail["toolsListBytes"], detail["toolsListTokens"]) == (size, size // 4)

    # The budget is below this API's size: the next snapshot serves the meta-tools.
    settings.TOOLS_DYNAMIC_TOKEN_BUDGET = size // 4 - 1
    registry.forget()
    assert (
        alice_client.get(f"/api/servers/{server['id']}").json()["data"]["effectiveToolMode"]
        == "dynamic"
    )
    assert {tool["name"] for tool in full_listing(live, server)} == META

    # Switching to "all" lists every tool again, whatever the budget.
    response = alice_client.patch(
        f"/api/servers/{server['id']}", {"toolMode": "all"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["data"]["toolMode"], response.json()["data"]["effectiveToolMode"]) == (
        "all",
        "all",
    )
    registry.forget()
    assert len(full_listing(live, server)) == 40
