"""A dependency outage is a 503 with Retry-After at the MCP endpoint, never a 500."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import httpx2

from gateway.app import McpApp
from gateway.runtime import ServerRuntime, Unavailable
from gateway.testing import serve_on_loopback

SERVER = ServerRuntime(
    server_id="s", slug="demo", user_id="u", name="Demo", version="1", visibility="public",
    tools=(), tools_by_name=MappingProxyType({}),
)  # fmt: skip


class DatabaseDown:
    async def get_server(self, slug: str) -> ServerRuntime | None:
        if slug == "cold":
            raise Unavailable(retry_after=3)
        return SERVER

    async def authenticate(self, server: Any, bearer: Any) -> None:
        return None

    async def admit(self, server: Any, ctx: Any, method: str) -> None:
        raise Unavailable()

    async def call_tool(self, *args: Any) -> dict[str, Any]:
        raise AssertionError("not reached")

    def record_rejected_call(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_an_outage_is_503_with_retry_after():
    app = McpApp(DatabaseDown(), allowed_hosts=["127.0.0.1"], allowed_origins=[])
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json", "MCP-Protocol-Version": "2025-11-25"}
    with serve_on_loopback(app) as url:
        cold = httpx2.post(f"{url}/mcp/cold", json=ping, headers=headers)
        warm = httpx2.post(f"{url}/mcp/demo", json=ping, headers=headers)
    assert cold.status_code == 503
    assert cold.headers["retry-after"] == "3"
    assert cold.json()["error"]["message"] == "Temporarily unavailable, retry shortly"
    assert warm.status_code == 503
    assert warm.headers["retry-after"] == "2"
