"""The async pool's HTTP/1.1 connection (core/outbound/connection.py) against httpcore2's.

httpcore2's drives h11 both ways; ours frames the request itself, as h11 does, and has
httptools (llhttp, in C) parse the answer, without httpcore2's locks, tracing contexts and
per-event context managers. Each case here sends the same request through both, over real
loopback connections to a raw server that records what arrives and answers with fixed bytes,
and compares what the upstream received and what each connection made of the answer (status,
headers, body, or the error), then whether the connection can be used again. The request's
framing is also compared with h11's directly, refusals included.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore2
import pytest

from core.outbound.connection import Http11Connection, Request
from core.outbound.streams import AsyncioBackend

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

ANSWERS: dict[str, bytes] = {
    "content-length": OK,
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Case: MiXed\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    ),
    "close-delimited": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    "http/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold",
    "interim then final": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK
    ),
    "switching protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw bytes",
    "no content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "repeated headers": (
        b"HTTP/1.1 404 Not Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"
    ),
    "large body": b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300000,
    "no answer": b"",
    "garbage": b"NOT HTTP AT ALL\r\n\r\n",
    "bad header": b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n",
    "body cut short": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    "chunk cut short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    "oversized head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"y" * (200 * 1024) + b"\r\n\r\n",
    "spaces around a value": b"HTTP/1.1 200 OK\r\nX-A:  spaced \t\r\nContent-Length: 2\r\n\r\nok",
    "chunked with a trailer": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
    ),
    "unknown coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "not modified": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "no reason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
    "http/1.0 keep-alive": (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
    ),
    "close with a length": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    "conflicting lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
}

# Answers sent a few bytes at a time as well, so that the head and the body are parsed across
# reads: one per way a body ends.
DRIBBLED = {"content-length", "chunked", "close-delimited", "interim then final", "body cut short"}

# Answers whose body bytes, sent to a HEAD request (which gets no body), are left over after
# the answer: a connection must not be reused with them in its buffer.
BODY_AFTER_THE_ANSWER_TO_HEAD = {
    "content-length",
    "chunked",
    "interim then final",
    "large body",
    "body cut short",
    "chunk cut short",
    "spaces around a value",
    "chunked with a trailer",
    "no reason",
}

# Malformed answers, which both connections refuse with RemoteProtocolError: h11 (httpcore2's)
# quotes the line, llhttp (ours, through httptools) names what it expected.
REFUSED_IN_OTHER_WORDS = {"garbage", "bad header", "conflicting lengths"}

REQUESTS: dict[str, dict[str, Any]] = {
    "get": {"method": b"GET", "target": b"/items/1?q=a%20b", "headers": [], "content": b""},
    "post": {
        "method": b"POST",
        "target": b"/items",
        "headers": [(b"Content-Type", b"application/json"), (b"Content-Length", b"13")],
        "content": b'{"name":"ab"}',
    },
    "head": {"method": b"HEAD", "target": b"/", "headers": [], "content": b""},
}


class RawServer:
    """Reads one request per connection, records it, answers with fixed bytes and closes."""

    def __init__(self, answer: bytes, piece: int = 0) -> None:
        self.answer = answer
        self.piece = piece  # write the answer PIECE bytes at a time (0: at once)
        self.received: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        self.received.append(head + await reader.readexactly(length))
        if self.piece:
            for start in range(0, len(self.answer), self.piece):
                writer.write(self.answer[start : start + self.piece])
                await writer.drain()
                await asyncio.sleep(0.002)
        else:
            writer.write(self.answer)
        await writer.drain()
        writer.close()


def _request(port: int, shape: dict[str, Any]) -> Request:
    host = f"127.0.0.1:{port}".encode()
    return Request(
        shape["method"],
        b"http",
        b"127.0.0.1",
        port,
        shape["target"],
        [(b"Host", host), *shape["headers"]],
        shape["content"],
        {"read": 5.0, "write": 5.0},
    )


def _httpcore2_request(port: int, shape: dict[str, Any]) -> httpcore2.Request:
    return httpcore2.Request(
        shape["method"],
        httpcore2.URL(scheme=b"http", host=b"127.0.0.1", port=port, target=shape["target"]),
        headers=[(b"Host", f"127.0.0.1:{port}".encode()), *shape["headers"]],
        content=shape["content"],
        extensions={"timeout": {"read": 5.0, "write": 5.0}},
    )


def _body(response: Any) -> Any:
    return response.stream


async def _exchange(kind: str, port: int, shape: dict[str, Any]) -> tuple[Any, tuple[bool, bool]]:
    origin = httpcore2.Origin(b"http", b"127.0.0.1", port)
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
    connection: Any
    if kind == "ours":
        connection = Http11Connection(origin, stream, keepalive_expiry=30.0)
        request: Any = _request(port, shape)
    else:
        connection = httpcore2.AsyncHTTP11Connection(origin, stream, keepalive_expiry=30.0)
        request = _httpcore2_request(port, shape)
    try:
        response = await connection.handle_async_request(request)
        try:
            body = b"".join([chunk async for chunk in _body(response)])
        finally:
            await response.aclose()
        outcome: Any = (
            response.status,
            response.headers,
            body,
            *(
                (response.http_version, response.reason_phrase)
                if kind == "ours"
                else (response.extensions["http_version"], response.extensions["reason_phrase"])
            ),
        )
    except httpcore2.ProtocolError as exc:  # what the exchange translates, by type and text
        outcome = (type(exc).__name__, str(exc))
    reusable = connection.is_idle()
    closed = connection.is_closed()
    if not closed:
        await connection.aclose()
    return outcome, (reusable, closed)


@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize(
    ("answer_name", "piece"),
    [(name, 0) for name in sorted(ANSWERS)] + [(name, 7) for name in sorted(DRIBBLED)],
)
def test_ours_sends_and_reads_what_httpcore2_does(answer_name, piece, request_name):
    async def both() -> dict[str, Any]:
        results = {}
        async with RawServer(ANSWERS[answer_name], piece) as server:
            for kind in ("httpcore2", "ours"):
                outcome, state = await _exchange(kind, server.port, REQUESTS[request_name])
                results[kind] = (server.received.pop(), outcome, state)
        return results

    results = asyncio.run(both())

    if answer_name in REFUSED_IN_OTHER_WORDS:
        # Both refuse the answer with a RemoteProtocolError; llhttp words it differently.
        for kind in ("ours", "httpcore2"):
            error_type = results[kind][1][0]
            results[kind] = (results[kind][0], error_type, results[kind][2])
    if request_name == "head" and answer_name in BODY_AFTER_THE_ANSWER_TO_HEAD:
        # The one intended difference: httpcore2 keeps the connection and would read those
        # bytes as the next request's answer; ours closes it when they came with the answer.
        # Dribbled, they may come after it: then ours is idle too, and the pool's readable
        # check finds them before the connection is used again.
        assert results["httpcore2"][2] == (True, False)
        if piece:
            assert results["ours"][2] in ((True, False), (False, True))
            results["ours"] = (*results["ours"][:2], (True, False))
        else:
            results["httpcore2"] = (*results["httpcore2"][:2], (False, True))
    assert results["ours"] == results["httpcore2"]


def test_a_complete_exchange_leaves_the_connection_reusable_and_an_unread_body_does_not():
    asyncio.run(_a_complete_exchange_leaves_the_connection_reusable_and_an_unread_body_does_not())


async def _a_complete_exchange_leaves_the_connection_reusable_and_an_unread_body_does_not() -> None:
    served = asyncio.Event()

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                # /partial: the head and 2 bytes of a 10-byte body, the rest never comes.
                partial = head.startswith(b"GET /partial ")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok" if partial else OK)
                await writer.drain()
                served.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(keep_alive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
    connection = Http11Connection(httpcore2.Origin(b"http", b"127.0.0.1", port), stream, 30.0)
    try:
        for _ in range(3):  # the same connection, request after request
            response = await connection.handle_async_request(_request(port, REQUESTS["get"]))
            assert b"".join([chunk async for chunk in _body(response)]) == b"ok"
            response.stream.close()
            assert connection.is_idle() and not connection.has_expired()

        # Closed unread, but the whole answer had come in: nothing of it is left on the wire.
        response = await connection.handle_async_request(_request(port, REQUESTS["get"]))
        for _ in range(100):
            if response.stream._answer.complete:
                break
            await asyncio.sleep(0.01)
        response.stream.close()
        assert connection.is_idle()

        partial = {**REQUESTS["get"], "target": b"/partial"}
        busy = await connection.handle_async_request(_request(port, partial))
        with pytest.raises(httpcore2.ConnectionNotAvailable):
            await connection.handle_async_request(_request(port, REQUESTS["get"]))
        # Ended with part of its body still to come: never reused, closed by whoever owns it.
        busy.stream.close()
        assert not connection.is_idle() and not connection.is_closed()
        await busy.aclose()
        assert connection.is_closed()
    finally:
        await connection.aclose()
        server.close()


def test_an_idle_connection_the_server_closed_has_expired():
    asyncio.run(_an_idle_connection_the_server_closed_has_expired())


async def _an_idle_connection_the_server_closed_has_expired() -> None:
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()
        writer.close()  # without Connection: close, so the connection looks reusable

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
    connection = Http11Connection(httpcore2.Origin(b"http", b"127.0.0.1", port), stream, 30.0)
    try:
        response = await connection.handle_async_request(_request(port, REQUESTS["get"]))
        assert b"".join([chunk async for chunk in _body(response)]) == b"ok"
        await response.aclose()
        assert connection.is_idle()
        for _ in range(100):
            if connection.has_expired():
                break
            await asyncio.sleep(0.01)
        assert connection.has_expired()
    finally:
        await connection.aclose()
        server.close()


def test_a_request_to_another_origin_is_refused():
    asyncio.run(_a_request_to_another_origin_is_refused())


async def _a_request_to_another_origin_is_refused() -> None:
    connection = Http11Connection(
        httpcore2.Origin(b"http", b"127.0.0.1", 1), httpcore2.AsyncMockStream([])
    )
    with pytest.raises(RuntimeError, match="on connection to"):
        await connection.handle_async_request(_request(2, REQUESTS["get"]))


@pytest.mark.parametrize("driver", ["async", "sync"])
@pytest.mark.parametrize("length", ["10", "2"])
def test_a_request_whose_own_headers_do_not_frame_its_body_is_refused_as_ours(driver, length):
    from core.outbound import OutboundError, OutboundOptions, arequest, request

    options = OutboundOptions(allow_private=True, total_timeout=3.0)

    async def call() -> OutboundError:
        async with RawServer(OK) as server:
            url = f"http://127.0.0.1:{server.port}/items"
            extras: dict[str, Any] = {"headers": {"Content-Length": length}, "content": b"hello"}
            with pytest.raises(OutboundError) as refused:
                if driver == "async":
                    await arequest("POST", url, options=options, **extras)
                else:
                    await asyncio.to_thread(request, "POST", url, options=options, **extras)
            if driver == "async":
                assert server.received == []  # nothing went out
        return refused.value

    error = asyncio.run(call())

    assert error.kind == "protocol"
    assert "is not valid HTTP" in error.message and "malformed response" not in error.message


HOST = (b"Host", b"api.example.com")
FRAMED: dict[str, tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]] = {
    "get": (b"GET", b"/items/1?q=a%20b", [HOST, (b"Accept", b"*/*")], b""),
    "host last": (b"GET", b"/", [(b"Accept", b"*/*"), (b"X-Case", b"MiXed"), HOST], b""),
    "post": (b"POST", b"/items", [HOST, (b"Content-Length", b"13")], b'{"name":"ab"}'),
    "repeated length": (
        b"PUT",
        b"/",
        [HOST, (b"Content-Length", b"2, 2"), (b"content-length", b"2")],
        b"ok",
    ),
    "chunked": (b"POST", b"/", [HOST, (b"Transfer-Encoding", b"Chunked")], b"hello"),
    "chunked, empty": (b"POST", b"/", [HOST, (b"Transfer-Encoding", b"chunked")], b""),
    "inner blanks and obs-text": (b"GET", b"/", [HOST, (b"X-A", b"a \t b\xe9")], b""),
    "empty value": (b"GET", b"/", [HOST, (b"X-Empty", b"")], b""),
    "close": (b"GET", b"/", [HOST, (b"Connection", b"keep-alive, Close")], b""),
    # Refused, each as h11 refuses it:
    "no host": (b"GET", b"/", [(b"Accept", b"*/*")], b""),
    "two hosts": (b"GET", b"/", [HOST, HOST], b""),
    "line break in a value": (b"GET", b"/", [HOST, (b"X-A", b"a\r\nX-Injected: 1")], b""),
    "bare LF in a value": (b"GET", b"/", [HOST, (b"X-A", b"a\nb")], b""),
    "NUL in a value": (b"GET", b"/", [HOST, (b"X-A", b"a\x00b")], b""),
    "trailing blank": (b"GET", b"/", [HOST, (b"X-A", b"a ")], b""),
    "bad name": (b"GET", b"/", [HOST, (b"X A", b"a")], b""),
    "bad method": (b"GE T", b"/", [HOST], b""),
    "space in target": (b"GET", b"/a b", [HOST], b""),
    "length too small": (b"POST", b"/", [HOST, (b"Content-Length", b"2")], b"hello"),
    "length too large": (b"POST", b"/", [HOST, (b"Content-Length", b"10")], b"hello"),
    "conflicting lengths": (
        b"POST",
        b"/",
        [HOST, (b"Content-Length", b"5"), (b"Content-Length", b"6")],
        b"hello",
    ),
    "bad length": (b"POST", b"/", [HOST, (b"Content-Length", b"-5")], b"hello"),
    "body without a length": (b"POST", b"/", [HOST], b"hello"),
    "gzip coding": (b"POST", b"/", [HOST, (b"Transfer-Encoding", b"gzip")], b"hello"),
}


@pytest.mark.parametrize("name", sorted(FRAMED))
def test_a_request_is_framed_and_refused_as_h11_frames_and_refuses_it(name):
    import h11

    from core.outbound.connection import request_bytes

    method, target, headers, body = FRAMED[name]

    def by_h11() -> Any:
        connection = h11.Connection(our_role=h11.CLIENT)
        try:
            parts = [connection.send(h11.Request(method=method, target=target, headers=headers))]
            if body:
                parts.append(connection.send(h11.Data(data=body)))
            parts.append(connection.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            return ("refused", str(exc))
        return (b"".join(part for part in parts if part), connection.our_state is h11.DONE)

    def by_ours() -> Any:
        request = Request(method, b"http", b"api.example.com", None, target, headers, body)
        try:
            return request_bytes(request)
        except httpcore2.LocalProtocolError as exc:
            return ("refused", str(exc))

    assert by_ours() == by_h11()
