from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.app import McpApp
from gateway.runtime import CallContext, Refusal, ServerRuntime, ToolRuntime
from gateway.testing import serve_on_loopback

PAGE_SIZE = 3
ALICE_KEY = "sk_alice_0123456789abcdef"
ALLOWED_ORIGIN = "http://localhost:5173"

NUMBER_ARGS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
SUM_OUTPUT = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}


def make_tool(name: str, **overrides: Any) -> ToolRuntime:
    fields: dict[str, Any] = {
        "name": name,
        "title": None,
        "description": f"The {name} tool",
        "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
        "output_schema": None,
        "annotations": {},
    }
    fields.update(overrides)
    return ToolRuntime(**fields)


def make_server(slug: str, tools: list[ToolRuntime], **overrides: Any) -> ServerRuntime:
    fields: dict[str, Any] = {
        "server_id": f"srv_{slug}",
        "slug": slug,
        "user_id": "user_alice",
        "name": f"{slug} API",
        "version": "1.0.0",
        "visibility": "public",
        "tools": tuple(tools),
        "tools_by_name": {tool.name: tool for tool in tools},
    }
    fields.update(overrides)
    return ServerRuntime(**fields)


def demo_tools() -> list[ToolRuntime]:
    return [
        make_tool("echo", title="Echo", annotations={"readOnlyHint": True}),
        make_tool("add", input_schema=NUMBER_ARGS, output_schema=SUM_OUTPUT),
        make_tool("fail"),
        make_tool("crash"),
        *(make_tool(f"filler_{n}") for n in range(4)),
    ]


@dataclass
class Call:
    tool: str
    arguments: dict[str, Any]
    ctx: CallContext


@dataclass
class InMemoryRegistry:
    """The Registry the Django side will implement, over plain dicts."""

    servers: dict[str, ServerRuntime] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    refusals: dict[str, Refusal] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    admitted: list[str] = field(default_factory=list)

    async def get_server(self, slug: str) -> ServerRuntime | None:
        if slug == "broken":
            raise ConnectionError("the cache is down")
        return self.servers.get(slug)

    async def authenticate(self, server: ServerRuntime, bearer: str | None) -> Any:
        if server.visibility == "public":
            return None
        if bearer is not None and self.keys.get(bearer) == server.slug:
            return bearer[:8]
        return False

    async def admit(self, server: ServerRuntime, ctx: CallContext, method: str) -> Refusal | None:
        self.admitted.append(method)
        return self.refusals.get(server.slug)

    async def call_tool(
        self, server: ServerRuntime, tool: ToolRuntime, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        self.calls.append(Call(tool.name, arguments, ctx))
        if tool.name == "add":
            total = arguments["a"] + arguments["b"]
            return {
                "content": [{"type": "text", "text": f'{{"sum": {total}}}'}],
                "structuredContent": {"sum": total},
                "isError": False,
            }
        if tool.name == "fail":
            return {
                "content": [{"type": "text", "text": "Upstream answered 503: try later"}],
                "isError": True,
            }
        if tool.name == "crash":
            raise RuntimeError("a bug in the registry")
        text = arguments.get("text", "")
        return {"content": [{"type": "text", "text": f"echo: {text}"}], "isError": False}

    def record_rejected_call(
        self, server: ServerRuntime, ctx: CallContext, tool_name: str, message: str
    ) -> None:
        self.rejected.append((tool_name, message))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> InMemoryRegistry:
    tools = demo_tools()
    return InMemoryRegistry(
        servers={
            "demo": make_server("demo", tools),
            "vault": make_server("vault", tools[:2], visibility="private"),
        },
        keys={ALICE_KEY: "vault"},
    )


@pytest.fixture
def mcp_base_url(registry: InMemoryRegistry) -> Iterator[str]:
    app = McpApp(
        registry,
        allowed_hosts=["127.0.0.1", "localhost"],
        allowed_origins=[ALLOWED_ORIGIN],
        max_body_bytes=64 * 1024,
        page_size=PAGE_SIZE,
    )
    with serve_on_loopback(app) as base_url:
        yield base_url
