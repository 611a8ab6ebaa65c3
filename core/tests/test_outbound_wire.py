"""The bytes an upstream receives: the async driver builds httpcore2's request itself, and must
send exactly what httpx2 (still used by the sync driver) sends for the same call.

A raw socket server on loopback records every request as it arrives, byte for byte, so header
order, case and framing are compared as the upstream sees them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from core import outbound
from core.outbound import OutboundOptions, wire
from core.outbound.wire import ResponseHeaders, parse_target, target_of

ANY_ADDRESS = OutboundOptions(connect_timeout=2.0, total_timeout=5.0, allow_private=True)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
REDIRECT = (
    b"HTTP/1.1 303 See Other\r\nLocation: /landed?from=303\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


class RecordingServer:
    """Answers every request with a fixed 200 (a 303 under /redirect) and keeps its bytes."""

    def __init__(self, family: socket.AddressFamily, host: str) -> None:
        self.received: list[bytes] = []
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                request = _read_request(conn)
                self.received.append(request)
                conn.sendall(REDIRECT if b" /redirect" in request.split(b"\r\n")[0] else ANSWER)

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() would not
        self._sock.close()
        self._thread.join(5)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line.lower() for line in head.split(b"\r\n")]
    length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)
    chunked = any(line.startswith(b"transfer-encoding:") for line in lines)
    while (len(body) < length) or (chunked and not body.endswith(b"0\r\n\r\n")):
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer(socket.AF_INET, "127.0.0.1")
    yield recording
    recording.close()


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def server6() -> Iterator[RecordingServer]:
    if not _ipv6_loopback_works():
        pytest.skip("no IPv6 loopback on this machine")
    recording = RecordingServer(socket.AF_INET6, "::1")
    yield recording
    recording.close()


def send_async(method: str, url: str, **extra: Any) -> outbound.OutboundResponse:
    async def main() -> outbound.OutboundResponse:
        try:
            return await outbound.arequest(method, url, options=ANY_ADDRESS, **extra)
        finally:
            await outbound.aclose_pools()

    return asyncio.run(main())


def send_sync(method: str, url: str, **extra: Any) -> outbound.OutboundResponse:
    try:
        return outbound.request(method, url, options=ANY_ADDRESS, **extra)
    finally:
        outbound.close_pools()


def both_drivers(
    server: RecordingServer, method: str, url: str, **extra: Any
) -> tuple[bytes, bytes]:
    """What the async driver sent, and what the httpx2 path sent for the same call (each
    request of the call, redirects included, one after the other)."""
    sent = []
    for send in (send_async, send_sync):
        before = len(server.received)
        response = send(method, url, **extra)
        assert response.status_code == 200
        assert response.content == (b"" if method.upper() == "HEAD" else b"ok")
        sent.append(b"".join(server.received[before:]))
    return sent[0], sent[1]


# --- Literal bytes ---------------------------------------------------------------------------


def test_a_get_with_a_query_string(server):
    sent, via_httpx2 = both_drivers(
        server, "GET", f"http://127.0.0.1:{server.port}/items/7?q=a%20b&page=2"
    )

    assert sent == (
        b"GET /items/7?q=a%20b&page=2 HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"User-Agent: Specgate\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"\r\n"
    )
    assert sent == via_httpx2


def test_a_post_with_a_json_body(server):
    sent, via_httpx2 = both_drivers(
        server,
        "post",
        f"http://127.0.0.1:{server.port}/pets",
        headers=[("Content-Type", "application/json"), ("Accept", "application/json")],
        content=b'{"name": "Rex"}',
    )

    assert sent == (
        b"POST /pets HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        b"Accept: application/json\r\n"
        b"User-Agent: Specgate\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"Content-Length: 15\r\n"
        b"\r\n"
        b'{"name": "Rex"}'
    )
    assert sent == via_httpx2


def test_custom_headers_keep_their_case_order_and_repeats(server):
    sent, via_httpx2 = both_drivers(
        server,
        "GET",
        f"http://127.0.0.1:{server.port}/",
        headers=[
            ("X-API-Key", "k-1"),
            ("accept", "text/plain"),
            ("X-Tag", "one"),
            ("X-Tag", "two"),
            ("user-agent", "mine/1.0"),
        ],
        cookies={"session": "s1", "theme": "dark"},
    )

    assert sent == (
        b"GET / HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"X-API-Key: k-1\r\n"
        b"accept: text/plain\r\n"
        b"X-Tag: one\r\n"
        b"X-Tag: two\r\n"
        b"user-agent: mine/1.0\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"Cookie: session=s1; theme=dark\r\n"
        b"\r\n"
    )
    assert sent == via_httpx2


def test_an_ipv6_literal_is_bracketed_in_the_host_header(server6):
    sent, via_httpx2 = both_drivers(server6, "DELETE", f"http://[::1]:{server6.port}/pets/3")

    assert sent == (
        b"DELETE /pets/3 HTTP/1.1\r\n"
        + f"Host: [::1]:{server6.port}\r\n".encode()
        + b"User-Agent: Specgate\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"\r\n"
    )
    assert sent == via_httpx2


# --- The same bytes as httpx2 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("GET", "/", {}),
        ("GET", "", {}),
        ("GET", "/a/./b/../c?x=1", {}),
        ("GET", "/sp ace/ü?q=a b&r=ü#fragment", {}),
        ("GET", "/list?tags=[1,2]&f={x}&t=`a`", {}),
        ("GET", "/p%2Fq%zz", {}),
        ("GET", "/search", {"params": {"q": "a b", "n": 2}}),
        ("GET", "/search?keep=1", {"params": [("q", "x"), ("q", "y")]}),
        ("POST", "/empty", {}),
        ("PUT", "/empty", {"content": b""}),
        ("PATCH", "/text", {"content": "ünïcode text"}),
        ("QUERY", "/q", {}),
        ("OPTIONS", "/o", {}),
        ("HEAD", "/h", {}),
        ("POST", "/sized", {"content": b"abc", "headers": {"content-length": "3"}}),
        (
            "POST",
            "/chunked",
            {"content": b"abc", "headers": {"Transfer-Encoding": "chunked"}},
        ),
        ("POST", "/host", {"content": b"abc", "headers": {"HOST": "other.example"}}),
        ("GET", "/bytes", {"headers": [("X-Raw", "v")], "cookies": {"a": "1"}}),
    ],
)
def test_the_async_driver_sends_what_httpx2_sends(server, method, path, extra):
    sent, via_httpx2 = both_drivers(
        server, method, f"http://127.0.0.1:{server.port}{path}", **extra
    )

    assert sent == via_httpx2


def test_a_redirected_post_becomes_the_same_get(server):
    sent, via_httpx2 = both_drivers(
        server,
        "POST",
        f"http://127.0.0.1:{server.port}/redirect",
        headers={"Content-Type": "application/json", "Authorization": "Bearer t"},
        content=b"{}",
    )

    assert sent.endswith(
        b"GET /landed?from=303 HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"Authorization: Bearer t\r\n"
        b"User-Agent: Specgate\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"\r\n"
    )
    assert sent == via_httpx2


def test_an_upper_case_host_and_a_spelled_out_port_are_normalised_as_httpx2_does(server):
    sent, via_httpx2 = both_drivers(server, "GET", f"HTTP://LocalHost:{server.port}/Path")

    assert f"Host: localhost:{server.port}\r\n".encode() in sent
    assert sent == via_httpx2


# --- URL parts and response headers, against httpx2's own --------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://api.example.com/v1/items/7?q=1&b=x%20y",
        "http://example.com:8080/a;b=c/d@e:f/~g!$&'()*+,=|^_[x]?{q}=`v`&k=%",
        "http://10.0.0.1:9000/x",
        "http://example.com",
        "http://example.com:80/x",
        "https://example.com:443/x",
        "http://example.com:0080/x",
        "http://EXAMPLE.com/x",
        "http://example.com/a/../b",
        "http://example.com/.well-known/x",
        "http://example.com/a b",
        "http://example.com/x#frag",
        "http://user:pw@example.com/x",
        "http://xn--fiqs8s.icom.museum/x",
        "http://中国.icom.museum/x",
        "http://[::1]:8000/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://1.2.3.4/x",
        "http://1.2.3/x",
        "http://a.1/x",
        "http://example.com/?",
        "http://example.com/x?a=1?b=2",
    ],
)
def test_url_parts_are_those_httpx2_gives(url):
    assert parse_target(url) == target_of(httpx2.URL(url))


@pytest.mark.parametrize(
    "url",
    ["http://999.1.1.1/x", "http://01.2.3.4/x", "http://example.com:99999999999999999999x/"],
)
def test_urls_httpx2_refuses_are_refused(url):
    with pytest.raises(httpx2.InvalidURL):
        httpx2.URL(url)
    with pytest.raises(httpx2.InvalidURL):
        parse_target(url)


@pytest.mark.parametrize(
    "raw",
    [
        [(b"Content-Type", b"application/json"), (b"X-A", b"1"), (b"x-a", b"2")],
        [(b"X-Name", "caf\u00e9".encode()), (b"Location", b"/next")],
        [(b"X-Name", b"caf\xe9"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")],
        [],
    ],
)
def test_response_headers_read_as_httpx2_reads_them(raw):
    ours = ResponseHeaders(raw)
    theirs = httpx2.Headers(raw)

    assert ours.multi_items() == theirs.multi_items()
    for name in ("x-a", "x-name", "set-cookie", "location", "missing"):
        assert ours.get(name) == theirs.get(name)


def test_parts_of_a_known_origin_are_reused_and_their_number_is_bounded():
    first = parse_target("http://api.example.com:8443/a?x=1")
    again = parse_target("http://api.example.com:8443/b/c")

    assert (again.raw_host, again.netloc, again.origin) == (
        first.raw_host,
        first.netloc,
        first.origin,
    )
    assert again == target_of(httpx2.URL("http://api.example.com:8443/b/c"))
    for n in range(2 * wire._ORIGINS_KEPT):
        parse_target(f"http://host-{n}.example.com/")
    assert wire._plain_origin.cache_info().currsize == wire._ORIGINS_KEPT


def test_threads_parsing_new_origins_at_once_all_get_their_targets():
    """The sync driver parses in many threads; evicting from the bounded cache must never
    raise (a hand-evicted dict let two threads evict the same key: KeyError out of `request`)."""
    failures: list[BaseException] = []

    def parse_many(thread: int) -> None:
        try:
            for n in range(40_000):
                url = f"http://t{thread}-h{n}.example:8080/p"
                assert parse_target(url).text == url
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=parse_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
