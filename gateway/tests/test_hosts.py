"""The Host and Origin policy (DNS-rebinding protection): which names and origins pass, and
a request carrying a header twice is judged on every copy: one foreign Host (or Origin) is
enough to refuse it, whichever copy a proxy or framework downstream would have picked."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from config.asgi import application
from gateway.app import McpApp
from gateway.hosts import (
    FOREIGN_HOST,
    FOREIGN_ORIGIN,
    HostPolicy,
    OriginPolicy,
    RequestSourcePolicy,
)
from gateway.testing import ALLOWED_ORIGIN, InMemoryRegistry, asgi_post, serve_on_loopback

PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()

HOST_PATTERNS = [
    "localhost",
    "api.example.com:8443",
    "tools.example.com:*",
    ".corp.example",
    "[::1]",
]


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST:8000",
        "api.example.com:8443",
        "tools.example.com:1",
        "corp.example",
        "a.b.corp.example:9",
        "[::1]:8000",
    ],
)
def test_it_allows_the_hosts_the_patterns_name(host: str) -> None:
    assert HostPolicy(HOST_PATTERNS).allows(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "api.example.com",
        "api.example.com:80",
        "localhost.evil.example",
        "evilcorp.example",
        "tools.example.com.evil:1",
        "[::2]",
    ],
)
def test_it_refuses_hosts_no_pattern_names(host: str | None) -> None:
    assert not HostPolicy(HOST_PATTERNS).allows(host)


def test_a_star_allows_any_host_but_not_a_missing_one() -> None:
    policy = HostPolicy(["*"])

    assert policy.allows("anything.example:1")
    assert not policy.allows(None)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("HTTPS://APP.EXAMPLE.COM", True),
        ("https://app.example.com:444", False),
        ("http://app.example.com", False),
        ("http://localhost:5173", True),
        ("http://localhost:1", True),
        ("http://localhost", False),
        ("http://localhost:1.evil", False),
        ("null", False),
    ],
)
def test_it_allows_exact_origins_and_any_port_where_asked(origin: str, allowed: bool) -> None:
    policy = OriginPolicy(["https://app.example.com/", "http://localhost:*"])

    assert policy.allows(origin) is allowed


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [
        ([(b"host", b"localhost")], None),
        ([(b"host", b"localhost"), (b"origin", ALLOWED_ORIGIN.encode())], None),
        ([], FOREIGN_HOST),
        ([(b"host", b"evil.example")], FOREIGN_HOST),
        ([(b"host", b"localhost"), (b"origin", b"http://evil.example")], FOREIGN_ORIGIN),
        # A foreign Host is answered 421 before the Origin is looked at.
        ([(b"host", b"evil.example"), (b"origin", b"http://evil.example")], FOREIGN_HOST),
    ],
)
def test_it_says_what_to_answer_a_request_from_a_foreign_source(
    headers: list[tuple[bytes, bytes]], refusal: object
) -> None:
    policy = RequestSourcePolicy(allowed_hosts=["localhost"], allowed_origins=[ALLOWED_ORIGIN])
    collapsed = {name.decode(): value.decode() for name, value in headers}

    assert policy.refusal(collapsed, headers) == refusal


def make_app(registry: InMemoryRegistry) -> McpApp:
    return McpApp(registry, allowed_hosts=["localhost"], allowed_origins=[ALLOWED_ORIGIN])


async def ping(app: McpApp, headers: list[tuple[bytes, bytes]]) -> int:
    return await asgi_post(app, "/mcp/demo", PING, headers)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "hosts",
    [[b"localhost", b"evil.example"], [b"evil.example", b"localhost"]],
    ids=["bad-last", "bad-first"],
)
async def test_it_refuses_a_request_with_one_foreign_host_among_two(
    registry: InMemoryRegistry, hosts: list[bytes]
) -> None:
    status = await ping(make_app(registry), [(b"host", host) for host in hosts])

    assert status == 421


@pytest.mark.anyio
async def test_it_serves_a_request_whose_repeated_hosts_are_all_allowed(
    registry: InMemoryRegistry,
) -> None:
    status = await ping(make_app(registry), [(b"host", b"localhost"), (b"host", b"localhost")])

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
    status = await ping(
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
