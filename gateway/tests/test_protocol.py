from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.protocol import (
    McpProtocol,
    Message,
    Route,
    RpcError,
    argument_problems,
    encode_error,
    encode_result,
    parse_message,
    route_message,
)
from gateway.runtime import CallContext, ServerRuntime
from gateway.testing import InMemoryRegistry, demo_tools, make_server, make_tool

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "claude-code", "version": "2"},
}


def message(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> Message:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    return parse_message(json.dumps(body).encode())


def route(msg: Message, **headers: str) -> Route:
    return route_message(msg, headers, list(headers))


def legacy_route() -> Route:
    return Route("2025-11-25", False, None, {})


def modern_route(**headers: str) -> Route:
    return Route("2026-07-28", True, "claude-code", headers)


def context(server: ServerRuntime) -> CallContext:
    return CallContext(server, None, "tests", "127.0.0.1", "2025-11-25")


async def listing(protocol: McpProtocol, server: ServerRuntime, msg: Message, route: Route) -> Any:
    encoded = await protocol.handle(server, msg, route, context(server))
    assert isinstance(encoded, bytes)
    return json.loads(encoded)


@pytest.fixture
def server() -> ServerRuntime:
    return make_server("demo", demo_tools())


@pytest.fixture
def protocol(registry: InMemoryRegistry) -> McpProtocol:
    return McpProtocol(registry, page_size=3)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe\x00", -32700),
        (b"[]", -32600),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600),
        (b'"ping"', -32600),
        (b'{"id":1,"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":1}', -32600),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"result":{}}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', -32602),
    ],
)
def test_it_refuses_what_is_not_one_request(body: bytes, code: int) -> None:
    with pytest.raises(RpcError) as raised:
        parse_message(body)

    assert raised.value.code == code


def test_it_keeps_the_id_of_a_request_with_bad_params() -> None:
    with pytest.raises(RpcError) as raised:
        parse_message(b'{"jsonrpc":"2.0","id":"a-1","method":"ping","params":"x"}')

    assert raised.value.request_id == "a-1"


def test_it_tells_notifications_from_requests() -> None:
    notification = parse_message(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')

    assert notification.is_notification
    assert not message("ping").is_notification


def test_it_serves_headerless_requests_at_the_sdk_default_version() -> None:
    served = route(message("tools/list"))

    assert (served.protocol_version, served.modern) == ("2025-03-26", False)


@pytest.mark.parametrize(
    ("offered", "negotiated"),
    [("2024-11-05", "2024-11-05"), ("2025-11-25", "2025-11-25"), ("2026-07-28", "2025-11-25")],
)
def test_it_negotiates_initialize(offered: str, negotiated: str) -> None:
    params = {
        "protocolVersion": offered,
        "capabilities": {},
        "clientInfo": {"name": "inspector", "version": "1"},
    }
    served = route(message("initialize", params))

    assert served.protocol_version == negotiated
    assert served.client_name == "inspector"


def test_it_routes_the_per_request_envelope() -> None:
    msg = message("tools/list", {"_meta": MODERN_META})
    served = route(msg, **{"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"})

    assert (served.protocol_version, served.modern, served.client_name) == (
        "2026-07-28",
        True,
        "claude-code",
    )


@pytest.mark.parametrize(
    ("params", "headers", "code"),
    [
        ({}, {"mcp-method": "tools/list"}, -32602),
        ({"_meta": MODERN_META}, {}, -32020),
        ({"_meta": MODERN_META}, {"mcp-method": "tools/call"}, -32020),
    ],
)
def test_it_checks_the_envelope_as_the_sdk_does(
    params: dict[str, Any], headers: dict[str, str], code: int
) -> None:
    with pytest.raises(RpcError) as raised:
        route(message("tools/list", params), **{"mcp-protocol-version": "2026-07-28", **headers})

    assert raised.value.code == code


def test_it_refuses_a_duplicated_routing_header() -> None:
    msg = message("tools/list", {"_meta": MODERN_META})
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}

    with pytest.raises(RpcError) as raised:
        route_message(msg, headers, ["mcp-method", "mcp-protocol-version", "mcp-method"])

    assert raised.value.code == -32020


@pytest.mark.anyio
async def test_it_pages_tools_with_an_opaque_cursor(
    protocol: McpProtocol, server: ServerRuntime
) -> None:
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"cursor": cursor} if cursor else None
        page = await listing(protocol, server, message("tools/list", params), legacy_route())
        pages.append([tool["name"] for tool in page["tools"]])
        cursor = page.get("nextCursor")
        if cursor is None:
            break

    assert pages == [
        ["echo", "add", "fail"],
        ["crash", "filler_0", "filler_1"],
        ["filler_2", "filler_3"],
    ]


@pytest.mark.anyio
async def test_it_encodes_each_page_once_per_server_snapshot(
    protocol: McpProtocol, server: ServerRuntime
) -> None:
    first = await protocol.handle(server, message("tools/list"), legacy_route(), context(server))
    again = await protocol.handle(server, message("tools/list"), legacy_route(), context(server))
    fresh = make_server("demo", demo_tools())
    rebuilt = await protocol.handle(fresh, message("tools/list"), legacy_route(), context(fresh))

    assert first is again
    assert rebuilt is not first and rebuilt == first


@pytest.mark.anyio
@pytest.mark.parametrize("cursor", ["garbage!", "bzM", 17, "eDM="])
async def test_it_refuses_a_cursor_it_did_not_issue(
    protocol: McpProtocol, server: ServerRuntime, cursor: Any
) -> None:
    with pytest.raises(RpcError) as raised:
        await protocol.handle(
            server, message("tools/list", {"cursor": cursor}), legacy_route(), context(server)
        )

    assert raised.value.code == -32602


@pytest.mark.anyio
async def test_it_answers_a_cursor_past_the_end_with_an_empty_page(
    protocol: McpProtocol, server: ServerRuntime
) -> None:
    past_the_end = "bzMwMA=="  # offset 300
    page = await listing(
        protocol, server, message("tools/list", {"cursor": past_the_end}), legacy_route()
    )

    assert page == {"tools": []}
    assert ("tools/list", False, 300) not in server.derived


@pytest.mark.anyio
async def test_it_stamps_modern_results(protocol: McpProtocol, server: ServerRuntime) -> None:
    call = message("tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}})
    result = await protocol.handle(server, call, modern_route(), context(server))
    tools = await listing(protocol, server, message("tools/list"), modern_route())
    discovered = await listing(protocol, server, message("server/discover"), modern_route())

    stamp = {"io.modelcontextprotocol/serverInfo": {"name": "demo API", "version": "1.0.0"}}
    assert isinstance(result, dict)
    assert result["resultType"] == "complete" and result["_meta"] == stamp
    assert result["structuredContent"] == {"sum": 2}
    assert tools["ttlMs"] == 0 and tools["cacheScope"] == "private"
    assert tools["resultType"] == "complete" and tools["_meta"] == stamp
    assert discovered["supportedVersions"] == ["2026-07-28"]
    assert discovered["capabilities"] == {"tools": {"listChanged": False}}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params",
    [None, {"name": 5}, {"name": "echo", "arguments": [1]}],
)
async def test_it_refuses_malformed_tool_calls(
    protocol: McpProtocol, server: ServerRuntime, params: dict[str, Any] | None
) -> None:
    with pytest.raises(RpcError) as raised:
        await protocol.handle(
            server, message("tools/call", params), legacy_route(), context(server)
        )

    assert raised.value.code == -32602


@pytest.mark.anyio
async def test_it_refuses_initialize_without_client_info(
    protocol: McpProtocol, server: ServerRuntime
) -> None:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}}

    with pytest.raises(RpcError) as raised:
        await protocol.handle(
            server, message("initialize", params), legacy_route(), context(server)
        )

    assert raised.value.code == -32602


@pytest.mark.anyio
async def test_it_checks_mcp_param_headers_the_tool_declares(
    registry: InMemoryRegistry,
) -> None:
    schema = {
        "type": "object",
        "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
    }
    server = make_server("geo", [make_tool("locate", input_schema=schema)])
    protocol = McpProtocol(registry)
    call = message("tools/call", {"name": "locate", "arguments": {"region": "eu"}})

    with pytest.raises(RpcError) as raised:
        await protocol.handle(
            server, call, modern_route(**{"mcp-param-region": "us"}), context(server)
        )
    result = await protocol.handle(
        server, call, modern_route(**{"mcp-param-region": "eu"}), context(server)
    )

    assert raised.value.code == -32020
    assert isinstance(result, dict) and result["isError"] is False


def test_it_compiles_a_tool_validator_once() -> None:
    tool = make_tool("add", input_schema={"type": "object", "required": ["a"]})

    assert argument_problems(tool, {"a": 1}) == []
    validator = tool.derived["validator"]
    assert argument_problems(tool, {}) == ["'a' is a required property"]
    assert tool.derived["validator"] is validator


def test_it_leaves_a_broken_schema_to_the_upstream() -> None:
    tool = make_tool("odd", input_schema={"type": "object", "properties": {"a": {"type": 5}}})

    assert argument_problems(tool, {"a": "anything"}) == []


def test_it_caps_the_problems_it_reports() -> None:
    properties = {f"p{n}": {"type": "integer"} for n in range(30)}
    tool = make_tool("wide", input_schema={"type": "object", "properties": properties})

    problems = argument_problems(tool, {f"p{n}": "x" * 500 for n in range(30)})

    assert len(problems) == 21
    assert problems[-1] == "... and 10 more"
    assert all(len(problem) <= 300 for problem in problems)


def test_it_encodes_responses() -> None:
    assert json.loads(encode_result(7, b'{"tools":[]}')) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {"tools": []},
    }
    assert json.loads(encode_result("a", {})) == {"jsonrpc": "2.0", "id": "a", "result": {}}
    assert json.loads(encode_error(None, -32700, "Parse error")) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }
    assert encode_error("\ud800", 1, "x").isascii()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "modern"),
    [
        ("server/discover", False),
        ("ping", True),
        ("initialize", True),
        ("notifications/initialized", False),
        ("resources/list", True),
        ("__class__", False),
        ("get", True),
    ],
)
async def test_each_era_serves_only_the_methods_of_its_table(
    protocol: McpProtocol, server: ServerRuntime, method: str, modern: bool
) -> None:
    served = modern_route() if modern else legacy_route()

    with pytest.raises(RpcError) as raised:
        await protocol.handle(server, message(method), served, context(server))

    assert (raised.value.code, raised.value.data) == (-32601, method)


@pytest.mark.anyio
async def test_it_answers_ping_in_the_handshake_era(
    protocol: McpProtocol, server: ServerRuntime
) -> None:
    assert await protocol.handle(server, message("ping"), legacy_route(), context(server)) == {}
