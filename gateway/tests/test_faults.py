"""Upstream faults through the whole product: each is a clear isError result within the
timeout, the worker stays free, and nothing grows without bound."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from config.asgi import application, registry
from core.testing import LoopbackServer, RecordedRequest, free_port
from gateway.testing import serve_on_loopback

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = """
openapi: 3.0.3
info: {title: Faults, version: "1"}
paths:
  /ok: {get: {operationId: ok, responses: {"200": {description: ok}}}}
  /slow: {get: {operationId: slow, responses: {"200": {description: ok}}}}
  /huge: {get: {operationId: huge, responses: {"200": {description: ok}}}}
  /badjson: {get: {operationId: badJson, responses: {"200": {description: ok}}}}
  /to-loopback: {get: {operationId: toLoopback, responses: {"200": {description: ok}}}}
  /to-metadata: {get: {operationId: toMetadata, responses: {"200": {description: ok}}}}
"""
HUGE_BYTES = 50 * 1024 * 1024
CHUNK = b"x" * 65536


def fault_upstream(loopback_port: int):
    def answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        path = request.path
        if path == "/slow":
            time.sleep(5)
            return 200, {"Content-Type": "text/plain"}, b"late"
        if path == "/huge":
            return 200, {"Content-Type": "text/plain"}, CHUNK * (HUGE_BYTES // len(CHUNK))
        if path == "/badjson":
            return 200, {"Content-Type": "application/json"}, b'{"unterminated": '
        if path == "/to-loopback":
            return 302, {"Location": f"http://127.0.0.1:{loopback_port}/ok"}, b""
        if path == "/to-metadata":
            return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""
        return 200, {"Content-Type": "text/plain"}, b"fine"

    return answer


@pytest.fixture
def setup(settings, alice_client):
    # The upstream lives on 127.0.0.2 and only that address is exempt from the guard, so
    # redirects to 127.0.0.1 and to the metadata address are refused as they would be in
    # production.
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    settings.OUTBOUND_TIMEOUT = 1.5
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1024 * 1024
    registry.forget()
    loopback_target = LoopbackServer(lambda request: (200, {}, b"should never be reached"))
    upstream = LoopbackServer(fault_upstream(loopback_target.port), host="127.0.0.2")
    with loopback_target, upstream, serve_on_loopback(application) as live:
        spec = alice_client.post("/api/specs", {"content": SPEC}, format="json").json()["data"]
        server = alice_client.post(
            "/api/servers",
            {"specId": spec["id"], "name": "Faults", "baseUrl": upstream.url},
            format="json",
        ).json()["data"]
        key = alice_client.post(
            f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json"
        ).json()["data"]["key"]
        yield f"{live}/mcp/{server['slug']}", key, loopback_target


def call(url: str, key: str, name: str):
    async def go():
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            started = time.monotonic()
            result = await client.call_tool(name, {})
            return result, time.monotonic() - started

    return asyncio.run(go())


def text(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def test_connection_refused_is_a_clear_error(settings, alice_client):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    registry.forget()
    with serve_on_loopback(application) as live:
        spec = alice_client.post("/api/specs", {"content": SPEC}, format="json").json()["data"]
        server = alice_client.post(
            "/api/servers",
            {"specId": spec["id"], "name": "Gone", "baseUrl": f"http://127.0.0.1:{free_port()}"},
            format="json",
        ).json()["data"]
        server_id = server["id"]
        key = alice_client.post(f"/api/servers/{server_id}/keys", {"name": "k"}, format="json")
        result, seconds = call(f"{live}/mcp/{server['slug']}", key.json()["data"]["key"], "ok")
    assert result.is_error is True
    assert text(result) == "The upstream API could not be reached."
    assert seconds < 2


def test_a_hanging_upstream_ends_at_the_timeout_and_the_worker_stays_free(setup):
    url, key, _ = setup
    result, seconds = call(url, key, "slow")
    assert result.is_error is True
    assert text(result) == "The upstream API did not answer in time."
    assert 1.4 < seconds < 3
    fine, quick = call(url, key, "ok")
    assert fine.is_error is False and quick < 1


def test_a_50_mb_body_is_cut_at_the_cap_and_reported(setup):
    url, key, _ = setup
    result, _ = call(url, key, "huge")
    assert result.is_error is True
    assert "larger than the size limit" in text(result)
    assert len(text(result)) < 200_000


def test_invalid_json_under_a_json_content_type_is_an_error(setup):
    url, key, _ = setup
    result, _ = call(url, key, "badJson")
    assert result.is_error is True
    assert "not valid JSON" in text(result)


@pytest.mark.parametrize("tool", ["toLoopback", "toMetadata"])
def test_redirects_to_forbidden_addresses_are_refused(setup, tool):
    url, key, loopback_target = setup
    result, _ = call(url, key, tool)
    assert result.is_error is True
    assert "not allowed" in text(result)
    assert loopback_target.requests == []
