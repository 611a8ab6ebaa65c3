"""Hostile input on the MCP endpoint, served by the production ASGI app under uvicorn: malformed
JSON-RPC, wrong protocol versions, oversized and deeply nested messages, unknown tools, and
arguments that try to leave their path segment or smuggle a header to the upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from django.conf import settings as django_settings
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR

from config.asgi import application, registry
from core.testing import LoopbackServer, echo_path
from gateway.testing import serve_on_loopback

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Files", "version": "1.0"},
    "paths": {
        "/files/{name}": {
            "get": {
                "operationId": "getFile",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "X-Note", "in": "header", "schema": {"type": "string"}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "A file"}},
            }
        },
        "/anything": {
            "post": {
                "operationId": "postAnything",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "OK"}},
            }
        },
    },
}
ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    with LoopbackServer(echo_path) as server:
        yield server


@pytest.fixture
def endpoint(settings, alice_client, upstream) -> Iterator[tuple[str, str]]:
    """The MCP URL of alice's server over the upstream, and an access key for it."""
    settings.OUTBOUND_ALLOW_PRIVATE = True
    spec = alice_client.post("/api/specs", {"document": DOCUMENT}, format="json").json()["data"]
    server = alice_client.post(
        "/api/servers",
        {"specId": spec["id"], "name": "Files", "baseUrl": upstream.url},
        format="json",
    ).json()["data"]
    key = alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json")
    registry.forget()
    with serve_on_loopback(application) as live:
        yield f"{live}/mcp/{server['slug']}", key.json()["data"]["key"]


def post(
    endpoint: tuple[str, str], body: bytes | str | dict[str, Any], **headers: str
) -> httpx2.Response:
    url, key = endpoint
    content = json.dumps(body) if isinstance(body, dict) else body
    sent = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": ACCEPT,
        **headers,
    }
    with httpx2.Client(timeout=20) as client:
        return client.post(url, content=content, headers=sent)


def call(endpoint: tuple[str, str], name: str, arguments: Any) -> dict[str, Any]:
    """tools/call; the JSON-RPC response body."""
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    response = post(endpoint, message)
    assert_clean(response)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_clean(response: httpx2.Response) -> None:
    text = response.text
    for leak in ("Traceback", 'File "', str(django_settings.BASE_DIR), django_settings.SECRET_KEY):
        assert leak not in text


def rpc_error(response: httpx2.Response) -> dict[str, Any]:
    assert_clean(response)
    body = response.json()
    assert body["jsonrpc"] == "2.0" and "result" not in body
    error: dict[str, Any] = body["error"]
    return error


# -- malformed JSON-RPC -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", PARSE_ERROR),
        (b"", PARSE_ERROR),
        (b"\xff\xfe\x00", PARSE_ERROR),
        (b"[" * 100_000 + b"]" * 100_000, PARSE_ERROR),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": ' + b"[" * 100_000, PARSE_ERROR),
        (b"[]", INVALID_REQUEST),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', INVALID_REQUEST),
        (b'"ping"', INVALID_REQUEST),
        (b"null", INVALID_REQUEST),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 1}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}', INVALID_PARAMS),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "no/such/method"}', METHOD_NOT_FOUND),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}', INVALID_PARAMS),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
            b' "params": {"name": "getFile", "arguments": [1]}}',
            INVALID_PARAMS,
        ),
    ],
    ids=lambda value: value[:40].decode("latin-1") if isinstance(value, bytes) else str(value),
)
def test_malformed_json_rpc_gets_its_json_rpc_error(endpoint, upstream, body, code):
    response = post(endpoint, body)

    assert response.status_code < 500
    assert rpc_error(response)["code"] == code
    assert upstream.requests == []


def test_an_echoed_request_id_with_a_lone_surrogate_stays_valid_json(endpoint):
    response = post(endpoint, b'{"jsonrpc": "2.0", "id": "a\\ud800", "method": "nope"}')

    assert rpc_error(response)["code"] == METHOD_NOT_FOUND
    assert response.content.isascii()


@pytest.mark.parametrize(
    ("content_type", "accept", "status"),
    [("text/plain", ACCEPT, 415), ("application/json", "text/html", 406)],
)
def test_wrong_content_type_or_accept_is_refused(endpoint, content_type, accept, status):
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    response = post(endpoint, message, **{"Content-Type": content_type, "Accept": accept})

    assert response.status_code == status
    rpc_error(response)


# -- protocol versions ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1999-01-01", "2025-13-45", "x" * 300, "latest", "%00"])
def test_an_unknown_protocol_version_header_is_refused_with_the_supported_list(endpoint, version):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = post(endpoint, message, **{"MCP-Protocol-Version": version})

    assert 400 <= response.status_code < 500
    error = rpc_error(response)
    assert "2025-06-18" in json.dumps(error.get("data"))


@pytest.mark.parametrize("offered", ["1999-01-01", "", 5, None, "2025-06-18\r\nX: y"])
def test_initialize_with_an_unknown_version_negotiates_a_supported_one(endpoint, offered):
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": offered,
            "capabilities": {},
            "clientInfo": {"name": "hostile", "version": "1"},
        },
    }
    response = post(endpoint, message)

    assert_clean(response)
    body = response.json()
    if "result" in body:
        assert body["result"]["protocolVersion"] in ("2024-11-05", "2025-03-26", "2025-06-18",
                                                     "2025-11-25")  # fmt: skip
    else:
        assert body["error"]["code"] == INVALID_PARAMS


# -- sizes and nesting ----------------------------------------------------------------------------


def test_a_message_over_the_cap_is_413_declared_or_streamed(endpoint, upstream):
    padding = "x" * (5 * 1024 * 1024)
    message = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "getFile", "arguments": {"name": "a", "q": padding}},
        }
    ).encode()

    declared = post(endpoint, message)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(message), 65536):
            yield message[start : start + 65536]

    url, key = endpoint
    with httpx2.Client(timeout=20) as client:
        streamed = client.post(
            url,
            content=chunks(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )

    for response in (declared, streamed):
        assert response.status_code == 413
        rpc_error(response)
    assert upstream.requests == []


def test_a_huge_argument_object_is_answered_without_reaching_the_upstream_half_way(
    endpoint, upstream
):
    arguments = {f"extra{n}": n for n in range(50_000)} | {"name": "a"}

    body = call(endpoint, "getFile", arguments)

    # Unknown arguments are not sent anywhere; the declared one is.
    assert [r.path for r in upstream.requests] in ([], ["/files/a"])
    assert "result" in body


def test_deeply_nested_arguments_are_an_error_not_a_crash(endpoint, upstream):
    nested: Any = "leaf"
    for _ in range(500):
        nested = [nested]

    for arguments in ({"name": nested}, {"name": "a", "q": nested}):
        body = call(endpoint, "getFile", arguments)
        assert body["result"]["isError"] is True
    posted = call(endpoint, "postAnything", {"body": nested})

    assert "result" in posted
    assert all(r.path in ("/anything",) for r in upstream.requests)


def test_an_unknown_tool_is_invalid_params_and_calls_nothing(endpoint, upstream):
    for name in ("nope", "", "../getFile", "getFile\x00", "x" * 10_000):
        message = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": {}},
        }
        error = rpc_error(post(endpoint, message))
        assert error["code"] == INVALID_PARAMS
    assert upstream.requests == []


# -- injection into the upstream request -----------------------------------------------------------

PATH_ATTACKS = [
    "../admin",
    "..",
    ".",
    "..%2fadmin",
    "%2e%2e%2fadmin",
    "a/../../admin",
    "a%2Fb",
    "a\\..\\admin",
    "a\x00b",
    "a?debug=1#frag",
    "a;jsessionid=1",
    "//evil.example/x",
    "http://evil.example/",
    "\u202egnp.exe",
    "%00",
]


@pytest.mark.parametrize("name", PATH_ATTACKS)
def test_a_path_argument_stays_inside_its_path_segment(endpoint, upstream, name):
    body = call(endpoint, "getFile", {"name": name})

    if not upstream.requests:
        assert body["result"]["isError"] is True  # refused before anything was sent
        return
    (received,) = upstream.requests
    path, _, query = received.path.partition("?")
    assert path.startswith("/files/")
    segment = path.removeprefix("/files/")
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert segment not in ("", ".", "..")
    assert query == ""
    assert received.headers.get("Host", "").startswith("127.0.0.1")


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rX-Injected: 1", "a\x00b"]
)
def test_cr_lf_or_nul_in_a_header_argument_never_makes_a_second_header(endpoint, upstream, value):
    body = call(endpoint, "getFile", {"name": "a", "X-Note": value})

    assert body["result"]["isError"] is True
    assert "X-Note" in body["result"]["content"][0]["text"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("s\r\nX-Injected: 1", "session=s%0D%0AX-Injected:%201"),
        ("s; admin=1", "session=s%3B%20admin=1"),
    ],
)
def test_cr_lf_or_semicolon_in_a_cookie_argument_is_percent_encoded(
    endpoint, upstream, value, sent
):
    call(endpoint, "getFile", {"name": "a", "session": value})

    (received,) = upstream.requests
    assert received.headers["Cookie"] == sent
    assert "X-Injected" not in received.headers


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a&admin=1", "a#frag", "\u202e😀"])
def test_a_query_argument_is_percent_encoded_whole(endpoint, upstream, value):
    call(endpoint, "getFile", {"name": "a", "q": value})

    (received,) = upstream.requests
    path, _, query = received.path.partition("?")
    assert path == "/files/a"
    name, _, encoded = query.partition("=")
    assert name == "q" and "&" not in encoded and "\r" not in encoded and "#" not in encoded
    assert "X-Injected" not in received.headers


def test_a_lone_surrogate_in_an_argument_is_a_tool_error_not_a_crash(endpoint, upstream):
    message = (
        b'{"jsonrpc": "2.0", "id": 3, "method": "tools/call",'
        b' "params": {"name": "getFile", "arguments": {"name": "a\\ud800"}}}'
    )
    response = post(endpoint, message)

    assert response.status_code == 200
    assert_clean(response)
    body = response.json()
    assert body["result"]["isError"] is True or body["result"]["structuredContent"]
    for received in upstream.requests:
        assert received.path.startswith("/files/")
