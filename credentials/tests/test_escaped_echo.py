"""An upstream that echoes the credentials back JSON-escaped as PHP, Go or a full \\uXXXX encoder
would: no spelling of them may reach an MCP client (text or structuredContent), a stored tool
test, its body preview or its admin page. Also: a secret straddling the preview's cut."""

from __future__ import annotations

import asyncio
import base64
import html
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from config.asgi import application, registry
from core.testing import LoopbackServer, RecordedRequest, go_json, php_json
from credentials.testing import server_from_document
from gateway.testing import serve_on_loopback
from tools.calling import PREVIEW_BYTES
from tooltests.models import ToolTest

pytestmark = pytest.mark.django_db(transaction=True)

# Each holds what JSON encoders escape: "/" (PHP), "&", "<", ">" (Go), non-ASCII (PHP, Python).
HEADER_KEY = "hk/leak&<5b2d>90e1"
QUERY_KEY = "qk/läk&<7c4e>€11a3\u2028ü"
USERNAME = "user-leak-91ab"
PASSWORD = "pw/leak&<d83f>2e77"
SECRETS = [HEADER_KEY, QUERY_KEY, USERNAME, PASSWORD, f"{USERNAME}:{PASSWORD}"]
STYLES = ["php", "go", "unicode", "python"]

ECHO_SCHEMA = {
    "type": "object",
    "properties": {
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["headers", "query"],
}
EVERY_CREDENTIAL: list[dict[str, list[str]]] = [{"headerKey": [], "queryKey": [], "basicAuth": []}]


def document() -> dict[str, Any]:
    style = {
        "name": "style",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": STYLES},
    }
    json_answer = {"description": "ok", "content": {"application/json": {"schema": ECHO_SCHEMA}}}
    text_answer = {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Echo", "version": "1"},
        "paths": {
            "/echo/{style}": {
                "get": {
                    "operationId": "echo",
                    "parameters": [style],
                    "security": EVERY_CREDENTIAL,
                    "responses": {"200": json_answer},
                }
            },
            "/padded/{style}": {
                "get": {
                    "operationId": "padded",
                    "parameters": [style],
                    "security": EVERY_CREDENTIAL,
                    "responses": {"200": text_answer},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "queryKey": {"type": "apiKey", "in": "query", "name": "api_key"},
                "basicAuth": {"type": "http", "scheme": "basic"},
            }
        },
    }


CREDENTIALS = [
    {"scheme": "headerKey", "type": "apiKey", "value": HEADER_KEY},
    {"scheme": "queryKey", "type": "apiKey", "value": QUERY_KEY},
    {"scheme": "basicAuth", "type": "basic", "username": USERNAME, "password": PASSWORD},
]


# --- How upstreams escape JSON -----------------------------------------------------------------


def unicode_json(value: Any) -> str:
    """Every character of every string, keys too, as an upper-case \\uXXXX escape."""
    if isinstance(value, dict):
        pairs = (f"{unicode_json(k)}: {unicode_json(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, str):
        units = value.encode("utf-16-be")
        return (
            '"'
            + "".join(f"\\u{units[i : i + 2].hex().upper()}" for i in range(0, len(units), 2))
            + '"'
        )
    return json.dumps(value)


ENCODERS: dict[str, Callable[[Any], str]] = {
    "php": php_json,
    "go": go_json,
    "unicode": unicode_json,
    "python": json.dumps,
}


def spellings(secret: str) -> set[str]:
    """The ways SECRET can show up in text: raw, JSON-escaped, URL-encoded, base64, HTML."""
    b64 = base64.b64encode(secret.encode()).decode()
    encoded = {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
    }
    escaped = {encoder(form)[1:-1] for form in encoded for encoder in ENCODERS.values()}
    every = encoded | escaped
    return every | {html.escape(form) for form in every}


def leaks(texts: list[str]) -> list[str]:
    everything = "\n".join(texts)
    lowered = everything.lower()
    found = [form for secret in SECRETS for form in spellings(secret) if form in everything]
    # \u escapes may use either case of hex digit.
    found += [
        form
        for secret in SECRETS
        for form in spellings(secret)
        if "\\u" in form and form.lower() in lowered
    ]
    return sorted(set(found))


def echoing_upstream(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    """Answers with the headers and query it received, escaped in the style the path names."""
    parts = urlsplit(request.path)
    kind, style = parts.path.strip("/").split("/")
    payload = {
        "headers": dict(request.headers.items()),
        "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
    }
    text = ENCODERS[style](payload)
    if kind == "padded":
        # The header key straddles the preview's cut: it starts 10 bytes before it.
        key = ENCODERS[style](request.headers["X-API-Key"])[1:-1]
        text = "x" * (PREVIEW_BYTES - 10) + key + " and more after it"
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()
    return 200, {"Content-Type": "application/json"}, text.encode()


# --- Through the product -----------------------------------------------------------------------


@pytest.fixture
def echo_server(alice, alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.TOOL_TEST_WAIT_SECONDS = 10.0
    with LoopbackServer(echoing_upstream) as upstream:
        server = server_from_document(user=alice, document=document(), base_url=upstream.url)
        for body in CREDENTIALS:
            response = alice_client.post(
                "/api/credentials", {"serverId": str(server.id), **body}, format="json"
            )
            assert response.status_code == 201, response.content
        yield server, upstream


def call_tools(url: str, key: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async def go() -> list[Any]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=20) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return [await client.call_tool(name, arguments) for name, arguments in calls]

    return asyncio.run(go())


def shown(result: Any) -> list[str]:
    """What an MCP client can read of a result: every text, and the structured content."""
    texts = [block.text for block in result.content if block.type == "text"]
    if result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False))
        texts.append(json.dumps(result.structured_content))
    return texts


def test_no_escaped_echo_of_a_secret_reaches_an_mcp_client(echo_server, alice_client):
    server, upstream = echo_server
    registry.forget()
    key = alice_client.post(f"/api/servers/{server.id}/keys", {"name": "k"}, format="json")
    assert key.status_code == 201
    with serve_on_loopback(application) as live:
        results = call_tools(
            f"{live}/mcp/{server.slug}",
            key.json()["data"]["key"],
            [("echo", {"style": style}) for style in STYLES],
        )

    # The upstream got every credential and sent each back in its own escaping.
    assert len(upstream.requests) == len(STYLES)
    received = upstream.requests[0]
    assert received.headers["X-API-Key"] == HEADER_KEY
    assert dict(parse_qsl(urlsplit(received.path).query))["api_key"] == QUERY_KEY
    for result, style in zip(results, STYLES, strict=True):
        # Still a successful result whose structured content matches the output schema.
        assert result.is_error is False, (style, result.content)
        structured = result.structured_content
        assert structured["headers"]["X-API-Key"] == "[REDACTED]", style
        assert structured["query"]["api_key"] == "[REDACTED]", style
        assert structured["headers"]["Authorization"] == "Basic [REDACTED]", style
        assert leaks(shown(result)) == [], style


def run_tool_test(client: Any, server: Any, tool_name: str, style: str) -> dict[str, Any]:
    tool = server.tools.get(name=tool_name)
    url = f"/api/servers/{server.id}/tools/{tool.id}/test"
    response = client.post(url, {"arguments": {"style": style}}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_no_escaped_echo_of_a_secret_is_stored_or_shown_in_the_admin(
    echo_server, alice_client, operator
):
    server, upstream = echo_server
    answers = [run_tool_test(alice_client, server, "echo", style) for style in STYLES]

    assert [answer["status"] for answer in answers] == ["succeeded"] * len(STYLES)
    assert len(upstream.requests) == len(STYLES)
    seen = [json.dumps(answers, ensure_ascii=False)]
    for test in ToolTest.objects.all():
        stored = [test.result, test.request, test.response, test.error_message]
        seen += [json.dumps(stored, ensure_ascii=False), json.dumps(stored)]
        assert test.response is not None and test.result is not None
        seen.append(test.response["bodyPreview"])
        assert "[REDACTED]" in test.response["bodyPreview"]
        assert test.result["structuredContent"]["query"]["api_key"] == "[REDACTED]"
        page = operator.get(f"/admin/tooltests/tooltest/{test.id}/change/")
        assert page.status_code == 200
        seen.append(page.content.decode())
    assert leaks(seen) == []


@pytest.mark.parametrize("style", ["python", "php"])
def test_a_secret_straddling_the_preview_cut_is_not_shown_in_part(
    echo_server, alice_client, operator, style
):
    server, _ = echo_server
    answer = run_tool_test(alice_client, server, "padded", style)

    assert answer["status"] == "succeeded"
    response = ToolTest.objects.get().response
    assert response is not None
    preview = response["bodyPreview"]
    assert response["truncated"] is True
    assert len(preview.encode()) <= PREVIEW_BYTES
    assert preview.startswith("x" * (PREVIEW_BYTES - 10))
    # Not even the first characters of the key: it was replaced whole before the cut.
    spelled = ENCODERS[style](HEADER_KEY)[1:-1]
    assert spelled[:3] not in preview[PREVIEW_BYTES - 10 :]
    page = operator.get(f"/admin/tooltests/tooltest/{ToolTest.objects.get().id}/change/")
    assert spelled[:8] not in page.content.decode()
    assert html.escape(spelled[:8]) not in page.content.decode()


def test_a_body_cut_at_the_size_cap_mid_secret_shows_none_of_it(
    echo_server, alice_client, settings
):
    # The upstream body is cut at the cap 10 bytes into the key: no whole key to find there.
    settings.OUTBOUND_MAX_RESPONSE_BYTES = PREVIEW_BYTES
    server, _ = echo_server
    registry.forget()
    key = alice_client.post(f"/api/servers/{server.id}/keys", {"name": "k"}, format="json")
    with serve_on_loopback(application) as live:
        [result] = call_tools(
            f"{live}/mcp/{server.slug}", key.json()["data"]["key"], [("padded", {"style": "php"})]
        )

    assert result.is_error is True
    text = result.content[0].text
    assert "larger than the size limit" in text
    assert text.startswith("x" * (PREVIEW_BYTES - 10) + "[REDACTED]")
    assert php_json(HEADER_KEY)[1:4] not in text


def test_the_admin_scrubs_a_test_stored_with_a_secret_in_it(echo_server, operator):
    # A record stored before scrubbing knew every spelling holds the echoed key as it came.
    server, _ = echo_server
    echoed = {"X-API-Key": HEADER_KEY, "api_key": QUERY_KEY, "auth": f"{USERNAME}:{PASSWORD}"}
    test = ToolTest.objects.create(
        user=server.user,
        server=server,
        tool=server.tools.get(name="echo"),
        server_name=server.name,
        tool_name="echo",
        arguments={"style": "php"},
        status="succeeded",
        result={
            "content": [{"type": "text", "text": go_json(echoed)}],
            "structuredContent": echoed,
        },
        response={"statusCode": 200, "bodyPreview": php_json(echoed), "truncated": False},
        error_message=unicode_json(echoed),
    )

    page = operator.get(f"/admin/tooltests/tooltest/{test.id}/change/")

    assert page.status_code == 200
    assert "[REDACTED]" in page.content.decode()
    assert leaks([page.content.decode()]) == []
