"""The async pool's HTTP/1.1 connection (core/outbound/connection.py) against httpcore2's.

Both drive h11; ours leaves out httpcore2's locks, tracing contexts and per-event context
managers. Each case here sends the same request through both, over real loopback connections
to a raw server that records what arrives and answers with fixed bytes, and compares what
the upstream received and what each connection made of the answer (status, headers, body,
or the error), then whether the connection can be used again.
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
}

# Answers whose body bytes, sent to a HEAD request (which gets no body), are left over after
# the answer: a connection must not be reused with them in its buffer.
BODY_AFTER_THE_ANSWER_TO_HEAD = {
    "content-length",
    "chunked",
    "interim then final",
    "large body",
    "body cut short",
    "chunk cut short",
}

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

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
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
@pytest.mark.parametrize("answer_name", sorted(ANSWERS))
def test_ours_sends_and_reads_what_httpcore2_does(answer_name, request_name):
    async def both() -> dict[str, Any]:
        results = {}
        async with RawServer(ANSWERS[answer_name]) as server:
            for kind in ("httpcore2", "ours"):
                outcome, state = await _exchange(kind, server.port, REQUESTS[request_name])
                results[kind] = (server.received.pop(), outcome, state)
        return results

    results = asyncio.run(both())

    if request_name == "head" and answer_name in BODY_AFTER_THE_ANSWER_TO_HEAD:
        # The one intended difference: httpcore2 keeps the connection and would read those
        # bytes as the next request's answer; ours closes it.
        assert results["httpcore2"][2] == (True, False)
        results["httpcore2"] = (*results["httpcore2"][:2], (False, True))
    assert results["ours"] == results["httpcore2"]


def test_a_complete_exchange_leaves_the_connection_reusable_and_an_unread_body_does_not():
    asyncio.run(_a_complete_exchange_leaves_the_connection_reusable_and_an_unread_body_does_not())


async def _a_complete_exchange_leaves_the_connection_reusable_and_an_unread_body_does_not() -> None:
    served = asyncio.Event()

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(OK)
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

        busy = await connection.handle_async_request(_request(port, REQUESTS["get"]))
        with pytest.raises(httpcore2.ConnectionNotAvailable):
            await connection.handle_async_request(_request(port, REQUESTS["get"]))
        # Ended with its body unread: never reused, closed by whoever owns it.
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
