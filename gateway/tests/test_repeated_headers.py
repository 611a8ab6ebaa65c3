"""A request carrying a header twice is judged on every copy: one foreign Host (or Origin) is
enough to refuse it, whichever copy a proxy or framework downstream would have picked."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from config.asgi import application
from gateway.app import McpApp
from gateway.testing import serve_on_loopback
from gateway.tests.conftest import ALLOWED_ORIGIN, InMemoryRegistry

PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()


def make_app(registry: InMemoryRegistry) -> McpApp:
    return McpApp(registry, allowed_hosts=["localhost"], allowed_origins=[ALLOWED_ORIGIN])


async def asgi_post(app: McpApp, headers: list[tuple[bytes, bytes]]) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/mcp/demo",
        "headers": [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            *headers,
        ],
        "client": ("127.0.0.1", 5000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": PING, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    "hosts",
    [[b"localhost", b"evil.example"], [b"evil.example", b"localhost"]],
    ids=["bad-last", "bad-first"],
)
async def test_it_refuses_a_request_with_one_foreign_host_among_two(
    registry: InMemoryRegistry, hosts: list[bytes]
) -> None:
    status = await asgi_post(make_app(registry), [(b"host", host) for host in hosts])

    assert status == 421


@pytest.mark.anyio
async def test_it_serves_a_request_whose_repeated_hosts_are_all_allowed(
    registry: InMemoryRegistry,
) -> None:
    status = await asgi_post(make_app(registry), [(b"host", b"localhost"), (b"host", b"localhost")])

    assert status == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "origins",
    [
        [ALLOWED_ORIGIN.encode(), b"http://evil.example"],
        [b"http://evil.example", ALLOWED_ORIGIN.encode()],
    ],
    ids=["bad-last", "bad-first"],
)
async def test_it_refuses_a_request_with_one_foreign_origin_among_two(
    registry: InMemoryRegistry, origins: list[bytes]
) -> None:
    status = await asgi_post(
        make_app(registry), [(b"host", b"localhost"), *((b"origin", o) for o in origins)]
    )

    assert status == 403


def raw_request(base_url: str, path: str, hosts: list[str]) -> int:
    """Send a request with the given Host lines over a plain socket; the status it gets."""
    parts = urlsplit(base_url)
    lines = [f"POST {path} HTTP/1.1", *(f"Host: {host}" for host in hosts)]
    lines += [
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(PING)}",
        "Connection: close",
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + PING
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def live() -> Any:
    with serve_on_loopback(application) as url:
        yield url


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "hosts",
    [["localhost", "evil.example"], ["evil.example", "localhost"]],
    ids=["bad-last", "bad-first"],
)
def test_the_served_gateway_refuses_a_duplicate_host_with_one_foreign_value(
    live: str, hosts: list[str]
) -> None:
    assert raw_request(live, "/mcp/no-such-server", hosts) == 421
    # The same request with one good Host gets as far as looking the server up.
    assert raw_request(live, "/mcp/no-such-server", ["localhost"]) == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "hosts",
    [["localhost", "evil.example"], ["evil.example", "localhost"]],
    ids=["bad-last", "bad-first"],
)
def test_the_served_api_refuses_a_duplicate_host_with_one_foreign_value(
    live: str, hosts: list[str]
) -> None:
    # Django joins repeated headers with a comma, which no allowed host matches: 400.
    assert raw_request(live, "/api/specs", hosts) == 400
    assert raw_request(live, "/api/specs", ["localhost"]) == 401
