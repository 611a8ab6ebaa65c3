"""Serve an ASGI app under real uvicorn on a loopback port, for tests and scripts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.runtime import (
    FULL_ACCESS,
    CallContext,
    Caller,
    Grant,
    Refusal,
    ServerRuntime,
    ToolRuntime,
)

STARTUP_TIMEOUT_SECONDS = 10.0
T = TypeVar("T")


class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopping as soon as it is told to. A test run stops hundreds of them;
    uvicorn's own loop looks for `should_exit` every 0.1 s and its shutdown sleeps 0.1 s after
    closing connections, 0.15 s a server on average. Here both are 5 ms polls; the order of
    the shutdown is uvicorn's: stop accepting, close connections, let running requests and
    tasks end (cancelled after `timeout_graceful_shutdown`, if set), then the lifespan's end."""

    async def main_loop(self) -> None:
        ticks = 0
        # on_tick refreshes the Date header when its counter is a multiple of 10: once a second.
        while not await self.on_tick(0 if ticks % 200 == 0 else 1):
            ticks += 1
            await asyncio.sleep(0.005)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        grace = self.config.timeout_graceful_shutdown
        deadline = None if grace is None else time.monotonic() + grace
        while self.server_state.connections or self.server_state.tasks:
            if deadline is not None and time.monotonic() > deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@contextmanager
def serve_on_loopback(
    app: Any, *, lifespan: Literal["auto", "on", "off"] = "on", **config: Any
) -> Iterator[str]:
    """Run `app` on 127.0.0.1 in a background thread; yields its base URL (`http://127.0.0.1:PORT`).

    The socket is bound before uvicorn starts, so the URL is valid the moment it
    is yielded; the server is shut down (connections closed) when the block ends.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _PromptServer(
        uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False, **config)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT_SECONDS)
        sock.close()


async def asgi_post(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """POST BODY (JSON) to PATH of an ASGI app in process, with HEADERS added; the status."""
    status, _ = await asgi_exchange(app, path, body, headers)
    return status


async def asgi_exchange(
    app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    """POST BODY (JSON) to PATH of an ASGI app in process, with HEADERS added; the status and
    the whole response body."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            *headers,
        ],
        "client": ("127.0.0.1", 5000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), payload


# --- An in-memory Registry and its demo servers, for the endpoint's own tests ---------------

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
    """Access key → the slug of the server it opens."""
    grants: dict[str, Grant] = field(default_factory=dict)
    """Access key → what it may do (absent: everything)."""
    refusals: dict[str, Refusal] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(tool name, error code when one was given, else the message) of each refused call."""
    admitted: list[str] = field(default_factory=list)

    async def get_server(self, slug: str) -> ServerRuntime | None:
        if slug == "broken":
            raise ConnectionError("the cache is down")
        return self.servers.get(slug)

    async def authenticate(self, server: ServerRuntime, bearer: str | None) -> Any:
        if server.visibility == "public":
            return None
        if bearer is not None and self.keys.get(bearer) == server.slug:
            return Caller(bearer[:8], self.grants.get(bearer, FULL_ACCESS))
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
        self,
        server: ServerRuntime,
        ctx: CallContext,
        tool_name: str,
        message: str,
        *,
        error_code: str | None = None,
    ) -> None:
        self.rejected.append((tool_name, error_code or message))


def make_key(client: Any, server_id: str, **grant: Any) -> str:
    """An access key to SERVER_ID made through the API by CLIENT (a signed-in test client);
    GRANT may name `scopes` and `tools`."""
    response = client.post(
        f"/api/servers/{server_id}/keys", {"name": "agent", **grant}, format="json"
    )
    assert response.status_code == 201, response.json()
    key: str = response.json()["data"]["key"]
    return key


def mcp_url(base_url: str, server: dict[str, Any]) -> str:
    """The MCP endpoint of SERVER (as the API returns it) on the gateway at BASE_URL."""
    return f"{base_url}/mcp/{server['slug']}"


def run_mcp(
    url: str, key: str | None, work: Callable[[Client], Awaitable[T]], mode: str = "auto"
) -> T:
    """Connect the official MCP client to URL (KEY as bearer, when given) and run WORK."""

    async def session() -> T:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            return await work(client)

    return asyncio.run(session())


def create_server(
    client: Any, document: str | dict[str, Any], base_url: str, name: str = "Things"
) -> dict[str, Any]:
    """Import DOCUMENT and create a server over BASE_URL through the API as CLIENT; the server
    as the API returns it, with `key`: a new access key's secret."""
    spec = client.post("/api/specs", {"document": document}, format="json")
    assert spec.status_code == 201, spec.json()
    server = client.post(
        "/api/servers",
        {"specId": spec.json()["data"]["id"], "name": name, "baseUrl": base_url},
        format="json",
    )
    assert server.status_code == 201, server.json()
    data: dict[str, Any] = server.json()["data"]
    return {**data, "key": make_key(client, data["id"])}


def mcp_post(
    url: str, key: str | None, method: str, params: dict[str, Any] | None = None
) -> httpx2.Response:
    """One raw JSON-RPC request (handshake era) to the MCP endpoint URL, KEY as bearer."""
    headers = {"Accept": "application/json, text/event-stream"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return httpx2.post(url, json=body, headers=headers, timeout=20)
