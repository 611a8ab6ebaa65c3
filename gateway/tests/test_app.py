from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from gateway.runtime import Refusal
from gateway.testing import ALICE_KEY, ALLOWED_ORIGIN, InMemoryRegistry

pytestmark = pytest.mark.anyio

MODES = ["auto", "legacy"]
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@asynccontextmanager
async def connect(url: str, mode: str, key: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


async def post(url: str, body: Any, **headers: str) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await http.post(url, content=content, headers={**JSON_HEADERS, **headers})


def legacy(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def modern(method: str, params: dict[str, Any] | None = None) -> dict:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
    }
    return legacy(method, {**(params or {}), "_meta": meta})


MODERN_HEADERS = {"mcp-protocol-version": "2026-07-28"}


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


def mcp_error(raised: BaseException) -> MCPError:
    """The MCPError a failed connect raised, unwrapped from the client's task group."""
    while isinstance(raised, BaseExceptionGroup):
        raised = raised.exceptions[0]
    assert isinstance(raised, MCPError)
    return raised


@pytest.mark.parametrize("mode", MODES)
async def test_it_lists_every_tool_across_pages(mcp_base_url: str, mode: str) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        names: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break

    assert pages == 3
    assert names == ["echo", "add", "fail", "crash"] + [f"filler_{n}" for n in range(4)]


@pytest.mark.parametrize("mode", MODES)
async def test_it_describes_tools_as_listed(mcp_base_url: str, mode: str) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert tools["echo"].title == "Echo"
    assert tools["echo"].description == "The echo tool"
    assert tools["echo"].annotations is not None and tools["echo"].annotations.read_only_hint
    assert tools["add"].input_schema["required"] == ["a", "b"]
    assert tools["add"].output_schema == {
        "type": "object",
        "properties": {"sum": {"type": "integer"}},
        "required": ["sum"],
    }


@pytest.mark.parametrize("mode", MODES)
async def test_it_calls_tools(mcp_base_url: str, registry: InMemoryRegistry, mode: str) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        text = await client.call_tool("echo", {"text": "hello"})
        structured = await client.call_tool("add", {"a": 2, "b": 3})
        failed = await client.call_tool("fail", {})

    assert text.is_error is False
    assert text_of(text) == "echo: hello"
    assert structured.structured_content == {"sum": 5}
    assert failed.is_error is True
    assert "503" in text_of(failed)
    assert [call.tool for call in registry.calls] == ["echo", "add", "fail"]


@pytest.mark.parametrize(
    ("mode", "version", "client_name"),
    [("auto", "2026-07-28", "mcp"), ("legacy", "2025-11-25", "python-httpx2")],
)
async def test_it_tells_the_registry_who_calls(
    mcp_base_url: str, registry: InMemoryRegistry, mode: str, version: str, client_name: str
) -> None:
    async with connect(f"{mcp_base_url}/mcp/vault", mode, key=ALICE_KEY) as client:
        await client.call_tool("echo", {"text": "hi"})

    ctx = registry.calls[0].ctx
    assert ctx.server.slug == "vault"
    assert ctx.key_prefix == ALICE_KEY[:8]
    assert ctx.protocol_version == version
    assert ctx.client_name is not None and ctx.client_name.startswith(client_name)
    assert ctx.client_ip == "127.0.0.1"
    assert "tools/call" in registry.admitted


@pytest.mark.parametrize("mode", MODES)
async def test_it_rejects_unknown_tools(
    mcp_base_url: str, registry: InMemoryRegistry, mode: str
) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("nope", {})

    assert raised.value.code == -32602
    assert "Unknown tool: nope" in str(raised.value)
    assert registry.rejected == [("nope", "unknown tool")]


@pytest.mark.parametrize("mode", MODES)
async def test_it_explains_invalid_arguments_as_a_tool_error(
    mcp_base_url: str, registry: InMemoryRegistry, mode: str
) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        result = await client.call_tool("add", {"a": "two", "c": 1})

    assert result.is_error is True
    text = text_of(result)
    assert text.startswith("Invalid arguments for tool add:")
    assert "'b' is a required property" in text
    assert "a: 'two' is not of type 'integer'" in text
    assert "Additional properties are not allowed ('c' was unexpected)" in text
    assert registry.calls == []


@pytest.mark.parametrize("mode", MODES)
async def test_it_turns_a_registry_crash_into_an_internal_error(
    mcp_base_url: str, mode: str
) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("crash", {})

    assert raised.value.code == -32603
    assert "bug" not in str(raised.value)


@pytest.mark.parametrize("mode", MODES)
async def test_it_serves_a_private_server_with_its_key(mcp_base_url: str, mode: str) -> None:
    async with connect(f"{mcp_base_url}/mcp/vault", mode, key=ALICE_KEY) as client:
        tools = await client.list_tools()

    assert [tool.name for tool in tools.tools] == ["echo", "add"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key", [None, "sk_wrong"])
async def test_it_refuses_a_private_server_without_a_valid_key(
    mcp_base_url: str, mode: str, key: str | None
) -> None:
    with pytest.raises((MCPError, BaseExceptionGroup)) as raised:
        async with connect(f"{mcp_base_url}/mcp/vault", mode, key=key):
            pass

    assert "access key" in str(mcp_error(raised.value))


@pytest.mark.parametrize(
    ("key", "challenge"),
    [
        (None, 'Bearer realm="specgate"'),
        ("sk_wrong", 'Bearer realm="specgate", error="invalid_token"'),
    ],
)
async def test_it_challenges_for_the_key_with_401(
    mcp_base_url: str, registry: InMemoryRegistry, key: str | None, challenge: str
) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = await post(f"{mcp_base_url}/mcp/vault", legacy("tools/list"), **headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge
    assert response.json()["error"]["code"] == -32600
    assert registry.admitted == []


@pytest.mark.parametrize("mode", MODES)
async def test_it_answers_404_for_an_unknown_server(mcp_base_url: str, mode: str) -> None:
    with pytest.raises((MCPError, BaseExceptionGroup)) as raised:
        async with connect(f"{mcp_base_url}/mcp/ghost", mode):
            pass
    response = await post(f"{mcp_base_url}/mcp/ghost", legacy("tools/list"))

    assert "Unknown MCP server" in str(mcp_error(raised.value))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Unknown MCP server"


@pytest.mark.parametrize("mode", MODES)
async def test_it_refuses_with_429_when_the_registry_says_so(
    mcp_base_url: str, registry: InMemoryRegistry, mode: str
) -> None:
    async with connect(f"{mcp_base_url}/mcp/demo", mode) as client:
        registry.refusals["demo"] = Refusal("quota", 42, "Monthly call quota reached")
        with pytest.raises(MCPError) as raised:
            await client.call_tool("echo", {"text": "hi"})

    assert raised.value.code == -32000
    assert raised.value.error.data == {"reason": "quota", "retryAfter": 42}
    assert "Monthly call quota reached" in str(raised.value)
    assert registry.calls == []


async def test_it_sends_retry_after_with_a_refusal(
    mcp_base_url: str, registry: InMemoryRegistry
) -> None:
    registry.refusals["demo"] = Refusal("rate_limit", 7, "Too many requests")
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("ping", request_id=9))

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {
            "code": -32000,
            "message": "Too many requests",
            "data": {"reason": "rate_limit", "retryAfter": 7},
        },
    }


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example:80", ""])
async def test_it_refuses_a_foreign_host_with_421(mcp_base_url: str, host: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("ping"), host=host)

    assert response.status_code == 421


async def test_it_accepts_any_port_of_an_allowed_host(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("ping"), host="localhost:9999")

    assert response.status_code == 200


async def test_it_refuses_a_foreign_origin_with_403(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("ping"), origin="http://evil.example")

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Invalid Origin header"
    assert "access-control-allow-origin" not in response.headers


async def test_it_lets_an_allowed_origin_read_the_answer(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("ping"), origin=ALLOWED_ORIGIN)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


async def test_it_answers_a_cors_preflight(mcp_base_url: str) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.request(
            "OPTIONS",
            f"{mcp_base_url}/mcp/demo",
            headers={"origin": ALLOWED_ORIGIN, "access-control-request-method": "POST"},
        )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert "mcp-protocol-version" in response.headers["access-control-allow-headers"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
async def test_it_allows_only_post(mcp_base_url: str, method: str) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.request(method, f"{mcp_base_url}/mcp/demo", headers=JSON_HEADERS)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


@pytest.mark.parametrize("path", ["/mcp/demo/", "/mcp/demo"])
async def test_it_serves_the_path_with_or_without_a_trailing_slash(
    mcp_base_url: str, path: str
) -> None:
    response = await post(f"{mcp_base_url}{path}", legacy("ping"))

    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize("path", ["/mcp/", "/mcp/demo/extra", "/other/demo"])
async def test_it_answers_404_off_its_paths(mcp_base_url: str, path: str) -> None:
    response = await post(f"{mcp_base_url}{path}", legacy("ping"))

    assert response.status_code == 404


async def test_it_answers_malformed_json_with_a_parse_error(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", b'{"jsonrpc": "2.0", "id": 1,')

    assert response.status_code == 400
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }


async def test_it_rejects_batches(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", [legacy("ping"), legacy("ping", None, 2)])

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": -32600,
        "message": "Batch requests are not supported",
    }


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (legacy("resources/list"), {}, 200),
        (legacy("server/discover"), {}, 200),
        (modern("ping"), {**MODERN_HEADERS, "mcp-method": "ping"}, 404),
        (modern("initialize"), {**MODERN_HEADERS, "mcp-method": "initialize"}, 404),
    ],
)
async def test_it_answers_unknown_methods_with_32601(
    mcp_base_url: str, body: dict, headers: dict[str, str], status: int
) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", body, **headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == -32601
    assert response.json()["id"] == 1


async def test_it_refuses_an_unsupported_protocol_version_with_400(mcp_base_url: str) -> None:
    response = await post(
        f"{mcp_base_url}/mcp/demo", legacy("tools/list"), **{"mcp-protocol-version": "1999-01-01"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022
    assert error["data"]["requested"] == "1999-01-01"
    assert "2025-11-25" in error["data"]["supported"]


async def test_it_refuses_an_unsupported_modern_envelope_version(mcp_base_url: str) -> None:
    body = modern("server/discover")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    response = await post(
        f"{mcp_base_url}/mcp/demo",
        body,
        **{"mcp-protocol-version": "2099-01-01", "mcp-method": "server/discover"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["data"] == {
        "supported": ["2026-07-28"],
        "requested": "2099-01-01",
    }


async def test_it_refuses_modern_headers_that_disagree_with_the_body(mcp_base_url: str) -> None:
    response = await post(
        f"{mcp_base_url}/mcp/demo",
        modern("tools/call", {"name": "echo", "arguments": {}}),
        **MODERN_HEADERS,
        **{"mcp-method": "tools/call", "mcp-name": "add"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020


@pytest.mark.parametrize(
    ("offered", "negotiated"),
    [("2024-11-05", "2024-11-05"), ("2025-06-18", "2025-06-18"), ("1999-01-01", "2025-11-25")],
)
async def test_it_negotiates_the_version_at_initialize(
    mcp_base_url: str, offered: str, negotiated: str
) -> None:
    params = {
        "protocolVersion": offered,
        "capabilities": {},
        "clientInfo": {"name": "old-client", "version": "0.1"},
    }
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("initialize", params))

    assert response.status_code == 200
    assert response.json()["result"] == {
        "protocolVersion": negotiated,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": "demo API", "version": "1.0.0"},
    }


async def test_it_acknowledges_notifications_with_202(
    mcp_base_url: str, registry: InMemoryRegistry
) -> None:
    body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    response = await post(f"{mcp_base_url}/mcp/demo", body)

    assert response.status_code == 202
    assert response.content == b""


async def test_it_refuses_an_oversized_body_with_413(mcp_base_url: str) -> None:
    big = legacy("tools/call", {"name": "echo", "arguments": {"text": "x" * 70_000}})
    response = await post(f"{mcp_base_url}/mcp/demo", big)

    assert response.status_code == 413


async def test_it_refuses_an_oversized_streamed_body_with_413(mcp_base_url: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 8192

    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{mcp_base_url}/mcp/demo", content=chunks(), headers=JSON_HEADERS
        )

    assert response.status_code == 413


async def test_it_refuses_bodies_that_are_not_json(mcp_base_url: str) -> None:
    response = await post(
        f"{mcp_base_url}/mcp/demo", legacy("ping"), **{"content-type": "text/plain"}
    )

    assert response.status_code == 415


async def test_it_refuses_clients_that_do_not_accept_json(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/demo", legacy("ping"), accept="text/event-stream")

    assert response.status_code == 406


async def test_it_answers_500_when_the_registry_fails(mcp_base_url: str) -> None:
    response = await post(f"{mcp_base_url}/mcp/broken", legacy("ping"))

    assert response.status_code == 500
    assert response.json()["error"] == {"code": -32603, "message": "Internal error"}
