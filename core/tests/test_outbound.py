"""The outbound HTTP wrapper against real HTTP servers on loopback.

Every test that opens a socket opens it to 127.0.0.1; public-address cases exercise the guard's
address check directly.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core import outbound
from core.outbound import OutboundError, OutboundOptions
from core.outbound.guard import guard_for
from core.outbound.transport import async_pool

MB = 1024 * 1024
BIG_BODY_BYTES = 50 * MB
LOOPBACK_ONLY = OutboundOptions(
    connect_timeout=2.0,
    total_timeout=5.0,
    max_response_bytes=1 * MB,
    allowed_networks=("127.0.0.1/32",),
)
STRICT = OutboundOptions(connect_timeout=2.0, total_timeout=5.0, max_response_bytes=1 * MB)


@dataclass
class Upstream:
    base: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    big_body_sent: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            upstream.requests.append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "client_port": self.client_address[1],
                }
            )
            route = getattr(self, "route_" + url.path.strip("/").split("/")[0].replace("-", "_"))
            route(url, body)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {"Content-Type": "text/plain"}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def route_hello(self, url: Any, body: bytes) -> None:
            self._send(200, b"hello", {"Content-Type": "text/plain", "X-Upstream": "yes"})

        def route_echo(self, url: Any, body: bytes) -> None:
            last = upstream.requests[-1]
            echoed = {"method": last["method"], "headers": last["headers"], "query": url.query}
            echoed["body"] = body.decode()
            self._send(200, json.dumps(echoed).encode(), {"Content-Type": "application/json"})

        def route_redirect(self, url: Any, body: bytes) -> None:
            query = parse_qs(url.query)
            status = int(query.get("status", ["302"])[0])
            self._send(status, b"", {"Location": query["to"][0]})

        def route_chain(self, url: Any, body: bytes) -> None:
            left = int(url.path.rsplit("/", 1)[1])
            if left == 0:
                self._send(200, b"end of chain")
            else:
                self._send(302, b"", {"Location": f"/chain/{left - 1}"})

        def route_big(self, url: Any, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(BIG_BODY_BYTES))
            self.end_headers()
            chunk = b"x" * 65536
            sent = 0
            try:
                while sent < BIG_BODY_BYTES:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                self.close_connection = True
            upstream.big_body_sent.append(sent)

        def route_gzip(self, url: Any, body: bytes) -> None:
            size = int(parse_qs(url.query)["size"][0])
            compressed = gzip.compress(b"0" * size)
            headers = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
            self._send(200, compressed, headers)

        def route_hang(self, url: Any, body: bytes) -> None:
            upstream.stop.wait(10)
            self.close_connection = True

        def route_stall(self, url: Any, body: bytes) -> None:
            # Part of the body, then nothing: the read after the first chunk must time out.
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            upstream.stop.wait(10)
            self.close_connection = True

        def route_trickle(self, url: Any, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            deadline = time.monotonic() + 10
            try:
                while not upstream.stop.is_set() and time.monotonic() < deadline:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

        def route_garbage(self, url: Any, body: bytes) -> None:
            self.wfile.write(b"this is not http\r\n\r\n")
            self.close_connection = True

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[], Upstream]]:
    servers: list[tuple[ThreadingHTTPServer, Upstream]] = []

    def start() -> Upstream:
        upstream = Upstream(base="")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
        upstream.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append((server, upstream))
        return upstream

    yield start
    for server, upstream in servers:
        upstream.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def upstream(serve: Callable[[], Upstream]) -> Upstream:
    return serve()


@pytest.fixture(params=["sync", "async"])
def fetch(request: pytest.FixtureRequest) -> Iterator[Callable[..., outbound.OutboundResponse]]:
    """The same behaviour is asked of both drivers."""
    if request.param == "sync":
        yield outbound.request
        outbound.close_pools()
        return

    def run(*args: Any, **kwargs: Any) -> outbound.OutboundResponse:
        async def main() -> outbound.OutboundResponse:
            try:
                return await outbound.arequest(*args, **kwargs)
            finally:
                await outbound.aclose_pools()

        return asyncio.run(main())

    yield run


def fetch_error(fetch: Callable[..., Any], *args: Any, **kwargs: Any) -> OutboundError:
    with pytest.raises(OutboundError) as caught:
        fetch(*args, **kwargs)
    return caught.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Allowed requests --------------------------------------------------------------------------


def test_it_fetches_from_an_exempted_loopback_upstream(fetch, upstream):
    response = fetch("GET", upstream.base + "/hello", options=LOOPBACK_ONLY)

    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.truncated is False
    assert response.url == upstream.base + "/hello"
    assert response.header("X-Upstream") == "yes"
    assert ("content-type", "text/plain") in response.headers
    assert 0 < response.elapsed_ms < 5000


def test_it_fetches_from_loopback_when_private_addresses_are_allowed(fetch, upstream):
    options = OutboundOptions(allow_private=True)

    response = fetch("GET", f"http://localhost:{upstream.port}/hello", options=options)

    assert response.content == b"hello"


def test_it_sends_params_headers_cookies_and_body(fetch, upstream):
    response = fetch(
        "POST",
        upstream.base + "/echo?fixed=1",
        params={"q": "a b"},
        headers=[("X-Trace", "t1"), ("Content-Type", "application/json")],
        cookies={"session": "s1", "theme": "dark"},
        content=b'{"x": 1}',
        options=LOOPBACK_ONLY,
    )

    echoed = json.loads(response.content)
    assert echoed["method"] == "POST"
    assert echoed["query"] == "fixed=1&q=a+b"
    assert echoed["body"] == '{"x": 1}'
    assert echoed["headers"]["x-trace"] == "t1"
    assert echoed["headers"]["cookie"] == "session=s1; theme=dark"
    assert echoed["headers"]["user-agent"] == "Specgate"


def test_it_reuses_pooled_connections(upstream):
    # Both drivers keep a connection alive between calls: the server sees one client port.
    for _ in range(2):
        outbound.request("GET", upstream.base + "/hello", options=LOOPBACK_ONLY)
    outbound.close_pools()

    async def twice() -> None:
        for _ in range(2):
            await outbound.arequest("GET", upstream.base + "/hello", options=LOOPBACK_ONLY)
        await outbound.aclose_pools()

    asyncio.run(twice())

    ports = [r["client_port"] for r in upstream.requests]
    assert ports[0] == ports[1]
    assert ports[2] == ports[3]


# --- The address guard -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "[::1]",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "[fd00:ec2::254]",
        "100.64.0.1",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "[fe80::1]",
        "224.0.0.1",
    ],
)
def test_it_refuses_forbidden_ip_literals_without_connecting(fetch, upstream, host):
    error = fetch_error(fetch, "GET", f"http://{host}:{upstream.port}/hello", options=STRICT)

    assert error.kind == "blocked"
    assert upstream.requests == []


def test_it_refuses_a_name_that_resolves_to_loopback(fetch, upstream):
    error = fetch_error(fetch, "GET", f"http://localhost:{upstream.port}/hello", options=STRICT)

    assert error.kind == "blocked"
    assert error.message == f"Refused to contact http://localhost:{upstream.port}: " + (
        "it is not a public address."
    )
    assert upstream.requests == []


def test_an_exempted_network_does_not_exempt_others(fetch, upstream):
    error = fetch_error(fetch, "GET", f"http://127.0.0.2:{upstream.port}/", options=LOOPBACK_ONLY)

    assert error.kind == "blocked"


def test_a_mistyped_network_exemption_fails_when_configured():
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        OutboundOptions(allowed_networks=("127.0.0.1/33",))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "/relative",
        "http://",
    ],
)
def test_it_refuses_urls_that_are_not_absolute_http(fetch, url):
    assert fetch_error(fetch, "GET", url, options=STRICT).kind == "invalid_url"


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_allowed(address):
    assert outbound.is_public_address(address) is True


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "fc00::1",
        "fe80::1",
        "fe80::1%eth0",
        "fec0::1",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert outbound.is_public_address(address) is False


# --- Redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://127.0.0.2/",
    ],
)
def test_it_refuses_a_redirect_to_a_forbidden_address(fetch, upstream, target):
    error = fetch_error(
        fetch, "GET", upstream.base + f"/redirect?to={target}", options=LOOPBACK_ONLY
    )

    assert error.kind == "blocked"
    assert [r["path"] for r in upstream.requests] == ["/redirect"]


def test_it_refuses_a_redirect_to_another_scheme(fetch, upstream):
    url = upstream.base + "/redirect?to=file:///etc/passwd"

    assert fetch_error(fetch, "GET", url, options=LOOPBACK_ONLY).kind == "redirect"


def test_it_follows_redirects_up_to_the_cap(fetch, upstream):
    options = OutboundOptions(max_redirects=3, allowed_networks=("127.0.0.1/32",))

    response = fetch("GET", upstream.base + "/chain/3", options=options)

    assert response.content == b"end of chain"
    assert response.url == upstream.base + "/chain/0"


def test_it_refuses_a_redirect_chain_longer_than_the_cap(fetch, upstream):
    options = OutboundOptions(max_redirects=3, allowed_networks=("127.0.0.1/32",))

    error = fetch_error(fetch, "GET", upstream.base + "/chain/10", options=options)

    assert error.kind == "redirect"
    assert len(upstream.requests) == 4


def test_it_drops_credentials_on_a_cross_origin_redirect(fetch, serve):
    first, second = serve(), serve()
    url = f"{first.base}/redirect?to={second.base}/echo"

    response = fetch(
        "GET",
        url,
        headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k3y", "X-Plain": "kept"},
        cookies={"sid": "c00kie"},
        sensitive_headers=["X-Api-Key"],
        options=LOOPBACK_ONLY,
    )

    received = json.loads(response.content)["headers"]
    assert received["x-plain"] == "kept"
    assert not {"authorization", "x-api-key", "cookie"} & received.keys()


def test_it_keeps_credentials_on_a_same_origin_redirect(fetch, upstream):
    response = fetch(
        "GET",
        upstream.base + "/redirect?to=/echo",
        headers={"Authorization": "Bearer s3cret"},
        cookies={"sid": "c00kie"},
        options=LOOPBACK_ONLY,
    )

    received = json.loads(response.content)["headers"]
    assert received["authorization"] == "Bearer s3cret"
    assert received["cookie"] == "sid=c00kie"


def test_a_303_turns_a_post_into_a_get_without_body(fetch, upstream):
    response = fetch(
        "POST",
        upstream.base + "/redirect?status=303&to=/echo",
        headers={"Content-Type": "application/json"},
        content=b'{"a": 1}',
        options=LOOPBACK_ONLY,
    )

    echoed = json.loads(response.content)
    assert (echoed["method"], echoed["body"]) == ("GET", "")
    assert "content-type" not in echoed["headers"]


def test_a_307_repeats_the_post_with_its_body(fetch, upstream):
    response = fetch(
        "POST",
        upstream.base + "/redirect?status=307&to=/echo",
        content=b'{"a": 1}',
        options=LOOPBACK_ONLY,
    )

    echoed = json.loads(response.content)
    assert (echoed["method"], echoed["body"]) == ("POST", '{"a": 1}')


# --- Size and time limits ----------------------------------------------------------------------


def test_it_truncates_a_50_mb_body_at_the_cap_without_reading_it_all(fetch, upstream):
    started = time.monotonic()

    response = fetch("GET", upstream.base + "/big", options=LOOPBACK_ONLY, on_too_large="truncate")

    assert response.truncated is True
    assert response.content == b"x" * MB
    assert time.monotonic() - started < 3
    _wait_for(lambda: upstream.big_body_sent)
    assert upstream.big_body_sent[0] < 20 * MB


def test_it_refuses_a_50_mb_body_when_asked_to(fetch, upstream):
    error = fetch_error(fetch, "GET", upstream.base + "/big", options=LOOPBACK_ONLY)

    assert error.kind == "too_large"
    assert error.message == f"The response from {upstream.base} is larger than the limit of " + (
        f"{MB} bytes."
    )


def test_it_decompresses_gzip_within_the_cap(fetch, upstream):
    response = fetch("GET", upstream.base + "/gzip?size=1000", options=LOOPBACK_ONLY)

    assert response.content == b"0" * 1000
    assert response.header("content-encoding") is None


def test_a_gzip_bomb_is_cut_at_the_cap(fetch, upstream):
    url = upstream.base + f"/gzip?size={30 * MB}"

    response = fetch("GET", url, options=LOOPBACK_ONLY, on_too_large="truncate")

    assert response.truncated is True
    assert response.content == b"0" * MB


@pytest.mark.parametrize("path", ["/hang", "/stall", "/trickle"])
def test_a_hanging_upstream_times_out_within_the_total_timeout(fetch, upstream, path):
    options = OutboundOptions(total_timeout=0.5, allowed_networks=("127.0.0.1/32",))
    started = time.monotonic()

    error = fetch_error(fetch, "GET", upstream.base + path, options=options)

    assert error.kind == "timeout"
    assert error.message == f"{upstream.base} did not answer within 0.5 s."
    assert time.monotonic() - started < 1.0


def test_a_call_cut_short_leaves_no_connection_in_the_pool(upstream):
    # A stalled body ended by the deadline, and one ended by the caller's own cancellation:
    # either way the half-read connection is closed, never kept for the next call.
    options = OutboundOptions(total_timeout=0.5, allowed_networks=("127.0.0.1/32",))

    def pooled() -> int:  # both option sets share one address policy, so one pool
        return len(async_pool(guard_for(False, ("127.0.0.1/32",))).connections)

    async def cut_short() -> list[int]:
        with pytest.raises(OutboundError):
            await outbound.arequest("GET", upstream.base + "/stall", options=options)
        left = [pooled()]
        call = asyncio.ensure_future(
            outbound.arequest("GET", upstream.base + "/stall", options=LOOPBACK_ONLY)
        )
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        left.append(pooled())
        await outbound.aclose_pools()
        return left

    assert asyncio.run(cut_short()) == [0, 0]


def test_a_refused_connection_is_a_connect_error(fetch):
    port = closed_port()

    error = fetch_error(fetch, "GET", f"http://127.0.0.1:{port}/", options=LOOPBACK_ONLY)

    assert error.kind == "connect"
    assert error.message == f"Could not connect to http://127.0.0.1:{port}: connection refused."


def test_a_malformed_response_is_a_protocol_error(fetch, upstream):
    error = fetch_error(fetch, "GET", upstream.base + "/garbage", options=LOOPBACK_ONLY)

    assert error.kind == "protocol"


def test_error_messages_never_carry_the_path_query_or_headers(fetch):
    port = closed_port()
    url = f"http://user:pw-s3cret@127.0.0.1:{port}/private-path?api_key=q-s3cret"

    error = fetch_error(
        fetch, "GET", url, headers={"Authorization": "h-s3cret"}, options=LOOPBACK_ONLY
    )

    assert "s3cret" not in str(error)
    assert "private-path" not in str(error)


def _wait_for(condition: Callable[[], Any], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
