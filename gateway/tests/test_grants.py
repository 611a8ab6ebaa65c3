"""What a credential may list and call: the Grant predicate, and the endpoint applying it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.app import McpApp
from gateway.protocol import visible_tools
from gateway.runtime import FULL_ACCESS, Grant
from gateway.testing import InMemoryRegistry, demo_tools, make_server, make_tool, serve_on_loopback

READ_ONLY = make_tool("look", annotations={"readOnlyHint": True})
WRITING = make_tool("write", annotations={"readOnlyHint": False})
UNMARKED = make_tool("unmarked")

FULL_KEY = "sk_full_0123456789"
READER_KEY = "sk_reader_0123456789"
LISTER_KEY = "sk_lister_0123456789"
PICKED_KEY = "sk_picked_0123456789"
PICKED = ["echo", "fail", "filler_0", "filler_2", "filler_3"]


@pytest.mark.parametrize(
    ("scope", "tool", "listed", "needed"),
    [
        ("tools:read", READ_ONLY, True, "tools:call:readonly"),
        ("tools:read", WRITING, True, "tools:call"),
        ("tools:call:readonly", READ_ONLY, True, None),
        ("tools:call:readonly", WRITING, False, "tools:call"),
        # Without readOnlyHint a tool is not known to change nothing.
        ("tools:call:readonly", UNMARKED, False, "tools:call"),
        ("tools:call", READ_ONLY, True, None),
        ("tools:call", WRITING, True, None),
    ],
)
def test_each_scope_lists_and_calls_what_it_says(scope, tool, listed, needed):
    grant = Grant(scope)
    assert grant.may_list(tool) is listed
    assert grant.needed_scope(tool) == needed
    assert grant.may_call(tool) is (needed is None)


def test_an_allowlist_refuses_every_other_tool_whatever_the_scope():
    grant = Grant("tools:call", frozenset({"look"}))
    assert grant.may_call(READ_ONLY) and grant.may_list(READ_ONLY)
    assert not grant.may_call(WRITING) and not grant.may_list(WRITING)
    assert not grant.allows(WRITING) and grant.needed_scope(WRITING) is None
    assert not Grant("tools:call", frozenset()).may_list(READ_ONLY)


def test_an_unknown_scope_is_no_grant():
    with pytest.raises(ValueError, match="tools:write"):
        Grant("tools:write")


def test_a_grant_of_everything_lists_the_snapshot_itself():
    server = make_server("s", [READ_ONLY, WRITING])
    assert visible_tools(server, FULL_ACCESS) is server.tools
    assert visible_tools(server, Grant("tools:read")) is server.tools
    reader = visible_tools(server, Grant("tools:call:readonly"))
    assert reader == (READ_ONLY,)
    assert visible_tools(server, Grant("tools:call:readonly")) is reader  # computed once


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> InMemoryRegistry:
    keys = [FULL_KEY, READER_KEY, LISTER_KEY, PICKED_KEY]
    return InMemoryRegistry(
        servers={"vault": make_server("vault", demo_tools(), visibility="private")},
        keys=dict.fromkeys(keys, "vault"),
        grants={
            READER_KEY: Grant("tools:call:readonly"),
            LISTER_KEY: Grant("tools:read"),
            PICKED_KEY: Grant("tools:call", frozenset(PICKED)),
        },
    )


@pytest.fixture
def url(registry: InMemoryRegistry) -> Iterator[str]:
    app = McpApp(registry, allowed_hosts=["127.0.0.1"], allowed_origins=[], page_size=3)
    with serve_on_loopback(app) as base_url:
        yield f"{base_url}/mcp/vault"


@asynccontextmanager
async def connect(url: str, key: str, mode: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


async def every_page(url: str, key: str, mode: str) -> list[str]:
    names: list[str] = []
    async with connect(url, key, mode) as client:
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                return names


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_each_key_pages_through_its_own_tools(url: str, mode: str) -> None:
    everything = [tool.name for tool in demo_tools()]
    # The full listing is cached per snapshot first; no other key may be served from it.
    assert await every_page(url, FULL_KEY, mode) == everything
    assert await every_page(url, PICKED_KEY, mode) == PICKED
    assert await every_page(url, READER_KEY, mode) == ["echo"]
    assert await every_page(url, LISTER_KEY, mode) == everything
    assert await every_page(url, FULL_KEY, mode) == everything


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
}


def post_call(url: str, key: str, tool: str, *, modern: bool) -> httpx2.Response:
    params: dict[str, Any] = {"name": tool, "arguments": {}}
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    if modern:
        params["_meta"] = MODERN_META
        headers |= {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
        headers["Mcp-Name"] = tool
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params}
    return httpx2.post(url, json=body, headers=headers)


@pytest.mark.parametrize("modern", [False, True])
def test_a_missing_scope_is_403_with_the_scope_to_step_up_to(
    url: str, registry: InMemoryRegistry, modern: bool
) -> None:
    response = post_call(url, READER_KEY, "add", modern=modern)

    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="specgate", error="insufficient_scope", scope="tools:call"'
    )
    assert response.json()["id"] == 9
    assert registry.calls == []
    assert registry.rejected == [("add", "insufficient_scope")]


@pytest.mark.parametrize(("modern", "status"), [(False, 200), (True, 400)])
def test_a_tool_outside_the_allowlist_is_a_json_rpc_error(
    url: str, registry: InMemoryRegistry, modern: bool, status: int
) -> None:
    response = post_call(url, PICKED_KEY, "add", modern=modern)

    assert response.status_code == status
    assert "www-authenticate" not in response.headers
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        -32602,
        "Tool add is not available to this credential",
    )
    assert registry.calls == []
    assert registry.rejected == [("add", "tool_not_allowed")]
