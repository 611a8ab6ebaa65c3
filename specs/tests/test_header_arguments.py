"""Header and cookie arguments that cannot be sent as given, through the whole product.

The gateway (config.asgi under uvicorn, the official MCP client, a real upstream on loopback)
and the tool-test API must answer them as argument errors that name the argument, with a
request log like any call, never a JSON-RPC internal error or a 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from config.asgi import application, registry
from core.testing import LoopbackServer, RecordedRequest, json_reply
from credentials.testing import server_from_document, tool_named
from gateway.testing import serve_on_loopback
from specs.engine.operations import HEADER_VALUE_PATTERN
from specs.models import SpecOperation
from usage.models import RequestLog
from usage.recorder import recorder

pytestmark = pytest.mark.django_db(transaction=True)


def trace_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Trace", "version": "1"},
        "paths": {
            "/items": {
                "get": {
                    "operationId": "listItems",
                    "parameters": [
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }


def answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return json_reply({"ok": True})


@pytest.fixture
def upstream(settings) -> Iterator[LoopbackServer]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(answer) as server:
        yield server


@pytest.fixture
def trace_server(alice, upstream):
    return server_from_document(user=alice, document=trace_document(), base_url=upstream.url)


@pytest.fixture
def live() -> Iterator[str]:
    registry.forget()
    with serve_on_loopback(application) as url:
        yield url


def imported_before_header_patterns(server) -> None:
    """Stored tools from before input schemas carried the header pattern: only the request
    builder stands between such a value and the HTTP client."""
    operation = SpecOperation.objects.get(spec=server.spec, tool_name="listItems")
    operation.input_schema["properties"]["X-Trace"] = {"type": "string"}
    operation.save(update_fields=["input_schema"])
    registry.forget()


def mcp_key(alice_client, server) -> str:
    response = alice_client.post(f"/api/servers/{server.id}/keys", {"name": "t"}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["data"]["key"]


def call_tool(url: str, key: str, arguments: dict[str, Any]) -> Any:
    async def session() -> Any:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=20) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            tools = await client.list_tools()
            result = await client.call_tool("listItems", arguments)
            return tools, result

    return asyncio.run(session())


def logs_of(server) -> list[RequestLog]:
    recorder.flush()
    return list(RequestLog.objects.filter(server_id=server.id).order_by("created_at"))


def test_the_tool_schema_tells_a_model_what_a_header_can_carry(alice_client, trace_server, live):
    tools, result = call_tool(
        f"{live}/mcp/{trace_server.slug}", mcp_key(alice_client, trace_server), {}
    )

    [tool] = tools.tools
    assert tool.input_schema["properties"]["X-Trace"] == {
        "type": "string",
        "pattern": HEADER_VALUE_PATTERN,
    }
    assert result.is_error is False


@pytest.mark.parametrize("stored", ["current", "imported-before"])
def test_a_non_ascii_header_argument_is_a_tool_error_naming_it_and_logged(
    alice_client, trace_server, upstream, live, stored
):
    if stored == "imported-before":
        imported_before_header_patterns(trace_server)
    key = mcp_key(alice_client, trace_server)

    _, result = call_tool(f"{live}/mcp/{trace_server.slug}", key, {"X-Trace": "café"})

    assert result.is_error is True
    assert "X-Trace" in result.content[0].text
    if stored == "imported-before":
        assert result.content[0].text == (
            "Invalid arguments: Argument 'X-Trace' is sent in the 'X-Trace' header, which can "
            "only carry printable ASCII characters, spaces and tabs; 'é' cannot be sent."
        )
    assert upstream.requests == []
    [log] = logs_of(trace_server)
    assert (log.tool_name, log.source, log.error_code) == ("listItems", "mcp", "invalid_arguments")
    assert log.key_prefix == key[:12]
    assert log.succeeded is False


def test_a_cookie_argument_is_sent_percent_encoded(alice_client, trace_server, upstream, live):
    key = mcp_key(alice_client, trace_server)

    _, result = call_tool(
        f"{live}/mcp/{trace_server.slug}", key, {"session": "a; admin=1 é", "X-Trace": " t 1 "}
    )

    assert result.is_error is False
    [request] = upstream.requests
    assert request.headers["Cookie"] == "session=a%3B%20admin=1%20%C3%A9"
    assert request.headers["X-Trace"] == "t 1"
    assert [log.status_code for log in logs_of(trace_server)] == [200]


def test_a_tool_test_refuses_a_non_ascii_header_argument_as_an_argument_error(
    alice_client, trace_server, upstream
):
    url = f"/api/servers/{trace_server.id}/tools/{tool_named(trace_server, 'listItems').id}/test"

    response = alice_client.post(url, {"arguments": {"X-Trace": "café"}}, format="json")

    assert response.status_code == 400, response.json()
    assert list(response.json()["error"]["details"]) == ["arguments['X-Trace']"]
    assert upstream.requests == []


def test_a_tool_test_of_a_tool_imported_before_fails_naming_the_argument(
    alice_client, trace_server, upstream, settings
):
    settings.TOOL_TEST_WAIT_SECONDS = 5.0
    imported_before_header_patterns(trace_server)
    url = f"/api/servers/{trace_server.id}/tools/{tool_named(trace_server, 'listItems').id}/test"

    response = alice_client.post(url, {"arguments": {"X-Trace": "日本"}}, format="json")

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["status"] == "failed"
    assert data["result"]["isError"] is True
    assert "Argument 'X-Trace'" in data["result"]["content"][0]["text"]
    assert upstream.requests == []
    [log] = logs_of(trace_server)
    assert (log.source, log.error_code) == ("test", "invalid_arguments")
