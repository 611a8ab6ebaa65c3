"""The real product end to end: REST API → server → config.asgi under uvicorn → official MCP
client → real upstream HTTP server on loopback, and back."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from core.testing import LoopbackServer, RecordedRequest
from gateway.testing import make_key, mcp_url
from gateway.testing import run_mcp as run
from usage.models import RequestLog
from usage.recorder import recorder

SPEC = (Path(__file__).parent / "e2e.openapi.yaml").read_text()
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
pytestmark = pytest.mark.django_db(transaction=True)


def upstream_answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    path = request.path.split("?")[0]
    if path.startswith("/items/"):
        return 200, {"Content-Type": "application/json"}, json.dumps({"id": "x"}).encode()
    if path == "/items":
        return 201, {"Content-Type": "application/json"}, request.body
    if path in ("/forms", "/uploads"):
        return 200, {"Content-Type": "text/plain"}, b"ok"
    if path == "/text":
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, "héllo".encode()
    if path == "/image":
        return 200, {"Content-Type": "image/png"}, PNG
    if path == "/audio":
        return 200, {"Content-Type": "audio/wav"}, b"RIFF0000WAVE"
    if path == "/blob":
        return 200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 tiny"
    return 500, {"Content-Type": "application/json"}, b'{"message": "boom"}'


@pytest.fixture
def upstream():
    with LoopbackServer(upstream_answer) as server:
        yield server


def make_server(client, upstream_url: str, **extra: Any) -> dict[str, Any]:
    spec = client.post("/api/specs", {"content": SPEC}, format="json")
    assert spec.status_code == 201, spec.json()
    body = {"specId": spec.json()["data"]["id"], "name": "Shop", "baseUrl": upstream_url, **extra}
    server = client.post("/api/servers", body, format="json")
    assert server.status_code == 201, server.json()
    return server.json()["data"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_official_client_lists_and_calls_with_exact_serialisation(
    alice_client, upstream, live, mode
):
    server = make_server(alice_client, upstream.url)
    key = make_key(alice_client, server["id"])

    async def work(client):
        listed = await client.list_tools()
        result = await client.call_tool(
            "getItem",
            {
                "itemId": "a/b ../c",
                "tags": ["x", "y z"],
                "ids": [1, 2, 3],
                "filter": {"color": "red", "size": "L"},
                "X-Trace": "t-1",
                "session": "s1",
            },
        )
        return listed, result

    listed, result = run(mcp_url(live, server), key, work, mode)
    assert {tool.name for tool in listed.tools} == {
        "getItem", "createItem", "submitForm", "upload", "getText", "getImage", "getAudio",
        "getBlob", "failing",
    }  # fmt: skip
    got = upstream.requests[-1]
    assert got.method == "GET"
    path, _, query = got.path.partition("?")
    assert path == "/items/a%2Fb%20..%2Fc"
    assert query == (
        "tags=x&tags=y%20z&ids=1,2,3&filter%5Bcolor%5D=red&filter%5Bsize%5D=L"
    ) or query == ("tags=x&tags=y%20z&ids=1%2C2%2C3&filter%5Bcolor%5D=red&filter%5Bsize%5D=L")
    assert got.headers["X-Trace"] == "t-1"
    assert got.headers["Cookie"] == "session=s1"
    assert result.is_error is False
    assert result.structured_content == {"id": "x"}


def test_bodies_are_json_form_and_multipart(alice_client, upstream, live):
    server = make_server(alice_client, upstream.url)
    key = make_key(alice_client, server["id"])

    async def work(client):
        created = await client.call_tool("createItem", {"name": "pen", "price": 2.5})
        await client.call_tool("submitForm", {"title": "a&b", "count": 3})
        await client.call_tool("upload", {"note": "hi", "meta": {"a": 1}})
        return created

    created = run(mcp_url(live, server), key, work)
    json_call, form_call, multipart_call = upstream.requests[-3:]
    assert json_call.headers["Content-Type"] == "application/json"
    assert json.loads(json_call.body) == {"name": "pen", "price": 2.5}
    assert created.structured_content == {"name": "pen", "price": 2.5}
    assert form_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_call.body == b"title=a%26b&count=3"
    content_type = multipart_call.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    body = multipart_call.body.decode()
    assert 'name="note"' in body and "\r\n\r\nhi\r\n" in body
    assert 'name="meta"' in body and '{"a": 1}' in body.replace('{"a":1}', '{"a": 1}')


def test_each_content_type_reaches_the_client(alice_client, upstream, live):
    server = make_server(alice_client, upstream.url)
    key = make_key(alice_client, server["id"])

    async def work(client):
        return [
            await client.call_tool(name, {})
            for name in ("getText", "getImage", "getAudio", "getBlob", "failing")
        ]

    text, image, audio, blob, failing = run(mcp_url(live, server), key, work)
    assert text.content[0].text == "héllo"
    assert image.content[0].type == "image"
    assert image.content[0].mime_type == "image/png"
    assert base64.b64decode(image.content[0].data) == PNG
    assert audio.content[0].type == "audio" and audio.content[0].mime_type == "audio/wav"
    assert blob.content[0].type == "resource"
    assert blob.content[0].resource.mime_type == "application/pdf"
    assert failing.is_error is True
    assert "500" in failing.content[0].text and "boom" in failing.content[0].text


def test_every_call_writes_one_log_with_the_path_template(alice_client, upstream, live):
    server = make_server(alice_client, upstream.url)
    key = make_key(alice_client, server["id"])

    async def work(client):
        for item in ("1", "2"):
            await client.call_tool("getItem", {"itemId": item})
        await client.call_tool("failing", {})

    run(mcp_url(live, server), key, work)
    recorder.flush()
    logs = list(RequestLog.objects.filter(server_id=server["id"]).order_by("created_at"))
    assert [(log.tool_name, log.path, log.status_code) for log in logs] == [
        ("getItem", "/items/{itemId}", 200),
        ("getItem", "/items/{itemId}", 200),
        ("failing", "/fail", 500),
    ]
    assert {log.key_prefix for log in logs} == {key[:12]}
    assert all(log.source == "mcp" and log.client_name for log in logs)


def test_keys_are_required_and_revocation_reaches_the_gateway(
    alice_client, bob_client, upstream, live
):
    server = make_server(alice_client, upstream.url)
    key = make_key(alice_client, server["id"])
    url = mcp_url(live, server)
    anonymous = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    bob_server = make_server(bob_client, upstream.url)
    bob_key = make_key(bob_client, bob_server["id"])
    with_bobs_key = httpx2.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": f"Bearer {bob_key}", "Accept": "application/json"},
    )
    assert with_bobs_key.status_code == 401

    assert run(url, key, lambda client: client.list_tools()).tools
    key_id = alice_client.get(f"/api/servers/{server['id']}/keys").json()["data"][0]["id"]
    assert alice_client.delete(f"/api/servers/{server['id']}/keys/{key_id}").status_code == 200
    deadline = time.monotonic() + 5
    status = None
    while time.monotonic() < deadline:
        status = httpx2.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        ).status_code
        if status == 401:
            break
        time.sleep(0.2)
    assert status == 401


def test_disabling_a_tool_or_the_server_takes_effect_within_seconds(alice_client, upstream, live):
    server = make_server(alice_client, upstream.url, visibility="public")
    alice_client.patch(f"/api/servers/{server['id']}", {"visibility": "public"}, format="json")
    url = mcp_url(live, server)
    tools = alice_client.get(f"/api/servers/{server['id']}/tools?limit=200").json()["data"]
    text_tool = next(tool for tool in tools if tool["name"] == "getText")
    patched = alice_client.patch(
        f"/api/servers/{server['id']}/tools/{text_tool['id']}", {"enabled": False}, format="json"
    )
    assert patched.status_code == 200

    def names() -> set[str]:
        return {tool.name for tool in run(url, None, lambda client: client.list_tools()).tools}

    deadline = time.monotonic() + 5
    while "getText" in names() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "getText" not in names()

    alice_client.patch(f"/api/servers/{server['id']}", {"status": "disabled"}, format="json")
    deadline = time.monotonic() + 5
    status = 200
    while time.monotonic() < deadline:
        status = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code
        if status == 404:
            break
        time.sleep(0.2)
    assert status == 404
