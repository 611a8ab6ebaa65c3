"""One judge, the caller's `Grant`, decides which tools a caller sees and calls: tools/list,
tools/call and the dynamic mode's search, describe and execute all ask it. These tests hand
the protocol a grant directly, as the registry does for a key with an allowlist."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.protocol import McpProtocol, Route, RpcError, parse_message
from gateway.runtime import CallContext, Grant, ServerRuntime
from gateway.search import ToolDocument, ToolIndex
from gateway.testing import InMemoryRegistry, demo_tools, make_server

pytestmark = pytest.mark.anyio
ROUTE = Route("2025-11-25", False, None, {})


def servers() -> list[ServerRuntime]:
    tools = demo_tools()
    catalog = ToolIndex(
        [ToolDocument(tool, "POST", f"/{tool.name}", tool.name, ()) for tool in tools]
    )
    return [
        make_server("normal", tools),
        make_server("dynamic", tools, catalog=catalog),
    ]


def limited(server: ServerRuntime) -> CallContext:
    """A caller whose key allows every tool but `add`."""
    grant = Grant(tools=frozenset(tool.name for tool in server.tools if tool.name != "add"))
    return CallContext(server, None, "tests", "127.0.0.1", "2025-11-25", grant=grant)


async def ask(
    registry: InMemoryRegistry, server: ServerRuntime, method: str, params: dict[str, Any]
) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = await McpProtocol(registry, page_size=100).handle(
        server, parse_message(json.dumps(body).encode()), ROUTE, limited(server)
    )
    return json.loads(answer) if isinstance(answer, bytes) else answer


async def test_a_tool_the_caller_may_not_use_is_not_listed_nor_called():
    normal, _ = servers()
    registry = InMemoryRegistry(servers={"normal": normal})
    listed = await ask(registry, normal, "tools/list", {})
    assert "add" not in {tool["name"] for tool in listed["tools"]}
    assert "echo" in {tool["name"] for tool in listed["tools"]}
    with pytest.raises(RpcError, match="Tool add is not available to this credential"):
        await ask(registry, normal, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
    assert registry.calls == []
    # The shared listing of the snapshot is not the limited caller's.
    full = json.loads(
        McpProtocol(registry, page_size=100).list_tools(
            normal, None, CallContext(normal, None, "t", "127.0.0.1", "2025-11-25"), modern=False
        )
    )
    assert "add" in {tool["name"] for tool in full["tools"]}


async def test_search_describe_and_execute_honour_the_same_predicate():
    _, dynamic = servers()
    registry = InMemoryRegistry(servers={"dynamic": dynamic})
    found = await ask(
        registry, dynamic, "tools/call", {"name": "search_tools", "arguments": {"query": "add"}}
    )
    assert "add" not in {hit["name"] for hit in found["structuredContent"]["results"]}
    described = await ask(
        registry,
        dynamic,
        "tools/call",
        {"name": "describe_tools", "arguments": {"names": ["add", "echo"]}},
    )
    assert [tool["name"] for tool in described["structuredContent"]["tools"]] == ["echo"]
    assert described["structuredContent"]["unknown"] == ["add"]
    executed = await ask(
        registry,
        dynamic,
        "tools/call",
        {"name": "execute_tool", "arguments": {"name": "add", "arguments": {"a": 1, "b": 2}}},
    )
    assert executed["isError"] is True
    assert "Unknown tool: add" in executed["content"][0]["text"]
    echoed = await ask(
        registry,
        dynamic,
        "tools/call",
        {"name": "execute_tool", "arguments": {"name": "echo", "arguments": {"text": "hi"}}},
    )
    assert echoed["content"][0]["text"] == "echo: hi"
    assert [call.tool for call in registry.calls] == ["echo"]
    assert registry.rejected == [("add", "unknown tool")]
