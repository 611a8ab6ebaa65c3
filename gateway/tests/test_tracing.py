"""Traces of a tools/call: config.asgi under uvicorn, the official MCP client sending a
`traceparent`, a real upstream on loopback, and spans exported over OTLP/HTTP to a real
receiver that parses them."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from config.asgi import application, registry
from core.observability import tracing
from core.testing import LoopbackServer, OtlpReceiver, ReceivedSpan, json_reply
from gateway.testing import serve_on_loopback

SPEC = (Path(__file__).parent / "e2e.openapi.yaml").read_text()
SERVER, CLIENT = 2, 3  # OTLP span kinds
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    with OtlpReceiver() as running:
        exporter = OTLPSpanExporter(endpoint=f"{running.url}/v1/traces", timeout=5)
        assert tracing.start(service_name="specgate-test", exporter=exporter)
        try:
            yield running
        finally:
            tracing.stop()


@pytest.fixture
def upstream():
    with LoopbackServer(lambda request: json_reply({"id": "x"})) as server:
        yield server


@pytest.fixture
def live(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    registry.forget()
    with serve_on_loopback(application) as url:
        yield url


def make_server(client, upstream_url: str) -> tuple[dict[str, Any], str]:
    spec = client.post("/api/specs", {"content": SPEC}, format="json")
    body = {"specId": spec.json()["data"]["id"], "name": "Shop", "baseUrl": upstream_url}
    server = client.post("/api/servers", body, format="json").json()["data"]
    key = client.post(f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json")
    return server, key.json()["data"]["key"]


def call(url: str, key: str, headers: dict[str, str], arguments: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}", **headers}) as http,
            Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
        ):
            return await client.call_tool("getItem", arguments)

    return asyncio.run(go())


def only(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, spans
    return found[0]


def test_a_tools_call_is_traced_from_the_clients_traceparent_to_the_upstream(
    alice_client, receiver, upstream, live
):
    server, key = make_server(alice_client, upstream.url)
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{parent_id}-01"

    result = call(
        f"{live}/mcp/{server['slug']}",
        key,
        {"traceparent": traceparent},
        {"itemId": "argument-value-17", "X-Trace": "header-value-42"},
    )
    assert not result.is_error
    tracing.flush()

    spans = receiver.wait_for(lambda spans: any(s.name == "GET" for s in spans))
    mcp = only(spans, "mcp tools/call")
    call_span = only(spans, "tools/call getItem")
    upstream_span = only(spans, "GET")
    # One trace, continued from the client's traceparent: MCP request → tools/call → upstream.
    assert {mcp.trace_id, call_span.trace_id, upstream_span.trace_id} == {trace_id}
    assert mcp.parent_id == parent_id
    assert mcp.kind == SERVER
    assert call_span.parent_id == mcp.span_id
    assert upstream_span.parent_id == call_span.span_id
    assert upstream_span.kind == CLIENT
    assert mcp.attributes["http.response.status_code"] == 200
    assert mcp.attributes["mcp.method.name"] == "tools/call"
    assert call_span.attributes["gen_ai.tool.name"] == "getItem"
    assert call_span.attributes["specgate.server.id"] == server["id"]
    assert call_span.attributes["specgate.call.outcome"] == "ok"
    assert call_span.attributes["specgate.upstream.status_code"] == 200
    assert upstream_span.attributes["http.response.status_code"] == 200
    assert upstream_span.attributes["server.address"] == "127.0.0.1"
    assert all(s.service == "specgate-test" for s in (mcp, call_span, upstream_span))
    # The upstream was told which span called it.
    sent = [r for r in upstream.requests if r.path.startswith("/items/")][-1]
    version, sent_trace, sent_parent, flags = sent.headers["traceparent"].split("-")
    assert (version, sent_trace, sent_parent) == ("00", trace_id, upstream_span.span_id)
    assert int(flags, 16) & 1  # sampled
    # Argument values never become attributes.
    values = [str(v) for s in spans for v in s.attributes.values()]
    assert not [v for v in values if "argument-value-17" in v or "header-value-42" in v]


def test_a_server_with_trace_propagation_off_sends_no_traceparent(
    alice_client, receiver, upstream, live
):
    server, key = make_server(alice_client, upstream.url)
    changed = alice_client.patch(
        f"/api/servers/{server['id']}", {"tracePropagation": False}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["data"]["tracePropagation"] is False

    call(f"{live}/mcp/{server['slug']}", key, {}, {"itemId": "a"})
    tracing.flush()

    spans = receiver.wait_for(lambda spans: any(s.name == "GET" for s in spans))
    assert only(spans, "GET").parent_id == only(spans, "tools/call getItem").span_id
    sent = [r for r in upstream.requests if r.path.startswith("/items/")][-1]
    assert "traceparent" not in sent.headers


def test_a_rejected_call_is_said_on_the_mcp_span(alice_client, receiver, upstream, live):
    server, key = make_server(alice_client, upstream.url)

    result = call(f"{live}/mcp/{server['slug']}", key, {}, {"itemId": 12})
    assert result.is_error
    tracing.flush()

    spans = receiver.wait_for(lambda spans: any(s.name == "mcp tools/call" for s in spans))
    mcp = only(spans, "mcp tools/call")
    assert mcp.attributes["specgate.call.outcome"] == "rejected"
    assert mcp.attributes["gen_ai.tool.name"] == "getItem"
    assert not [s for s in spans if s.name in ("GET", "tools/call getItem")]
    assert not [r for r in upstream.requests if r.path.startswith("/items/")]


def test_a_trace_the_client_did_not_sample_records_nothing_but_is_passed_on(
    alice_client, receiver, upstream, live
):
    server, key = make_server(alice_client, upstream.url)
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)

    call(
        f"{live}/mcp/{server['slug']}",
        key,
        {"traceparent": f"00-{trace_id}-{parent_id}-00"},
        {"itemId": "a"},
    )
    call(f"{live}/mcp/{server['slug']}", key, {}, {"itemId": "b"})  # sampled: the marker
    tracing.flush()

    spans = receiver.wait_for(lambda spans: any(s.name == "GET" for s in spans))
    assert not [s for s in spans if s.trace_id == trace_id]
    first = [r for r in upstream.requests if r.path.startswith("/items/a")][-1]
    version, sent_trace, _, flags = first.headers["traceparent"].split("-")
    assert (version, sent_trace, flags) == ("00", trace_id, "00")
