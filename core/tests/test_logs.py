"""Log lines: one JSON object each, carrying the request id of the request that wrote them
(REST through Django, MCP through the gateway), and trace ids inside a span."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config.asgi import application, registry
from core.observability import tracing
from core.observability.logs import ContextFilter, JsonLineFormatter, logging_config
from core.testing import LoopbackServer, json_reply
from credentials.testing import operation, server_from_document, tool_named
from gateway.testing import serve_on_loopback

HEX32 = r"^[0-9a-f]{32}$"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes, through the JSON formatter and context filter of LOGGING."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def upstream():
    with LoopbackServer(lambda request: json_reply({"ok": True})) as server:
        yield server


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Logs", "version": "1"},
        "paths": operation("/ping", "ping"),
    }


@pytest.mark.django_db(transaction=True)
def test_every_line_of_a_rest_request_carries_its_request_id(
    alice, alice_client, upstream, json_lines, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.TOOL_TEST_WAIT_SECONDS = 5.0
    server = server_from_document(user=alice, document=document(), base_url=upstream.url)
    tool = tool_named(server, "ping")

    response = alice_client.post(
        f"/api/servers/{server.id}/tools/{tool.id}/test",
        {},
        format="json",
        HTTP_X_REQUEST_ID="req-2026.12/abc:1",
    )

    assert response.status_code == 200, response.json()
    assert response["X-Request-ID"] == "req-2026.12/abc:1"
    lines = parsed(json_lines)
    ran = [line for line in lines if "Tool test" in line["message"]]
    assert len(ran) == 1
    assert ran[0]["level"] == "INFO"
    assert ran[0]["logger"] == "tooltests.services"
    assert {line.get("request_id") for line in lines} == {"req-2026.12/abc:1"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "incoming", [None, "", "x" * 129, "two words", "new\nline", "é", "<script>"]
)
def test_an_absent_or_unsafe_request_id_is_replaced_by_a_new_one(alice_client, incoming):
    extra = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}

    response = alice_client.get("/api/servers", **extra)

    assert response.status_code == 200
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32
    int(response["X-Request-ID"], 16)


@pytest.mark.django_db(transaction=True)
def test_the_mcp_endpoint_honours_and_returns_the_request_id(alice, settings):
    registry.forget()
    server = server_from_document(user=alice, document=document(), base_url="http://127.0.0.1:9")
    message = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    with serve_on_loopback(application) as base_url:
        url = f"{base_url}/mcp/{server.slug}"
        given = httpx2.post(url, content=message, headers={**headers, "X-Request-ID": "mcp-1"})
        generated = httpx2.post(url, content=message, headers=headers)
        unsafe = httpx2.post(url, content=message, headers={**headers, "X-Request-ID": "a b"})

    # A private server without its key: refused, with the request id all the same.
    assert given.status_code == 401
    assert given.headers["x-request-id"] == "mcp-1"
    assert len(generated.headers["x-request-id"]) == 32
    assert len(unsafe.headers["x-request-id"]) == 32


def test_lines_logged_inside_a_span_carry_its_trace_and_span_ids(json_lines):
    assert tracing.start(service_name="test", exporter=InMemorySpanExporter())
    try:
        with tracing.tracer().start_as_current_span("work") as span:
            logging.getLogger("specgate.test").warning("inside")
        logging.getLogger("specgate.test").warning("outside")
    finally:
        tracing.stop()

    inside, outside = parsed(json_lines)
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert inside["message"] == "inside"
    assert "trace_id" not in outside and "request_id" not in outside


def test_text_format_keeps_the_request_id_in_brackets():
    config = logging_config(log_format="text", level="INFO")
    assert "[%(request_id)s]" in config["formatters"]["main"]["format"]
    assert config["handlers"]["console"]["filters"] == ["context"]
