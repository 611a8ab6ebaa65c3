"""HTTP/1.1 connections for the async pool: h11 frames every request and response.

httpcore2's `AsyncHTTP11Connection` drives an `h11.Connection` over a network stream. Around
that, per request, it takes an anyio lock twice, opens five tracing contexts, wraps the body in
two async generators, maps exceptions through context managers at every event and writes the
request head, body and end of message separately. For a call of a few hundred bytes that was
a large part of its CPU. This connection drives the same h11 state machine with the same
events, so the bytes on the wire and what is accepted from the upstream do not change; it
leaves out what the pool (`core/outbound/pool.py`) makes unnecessary:

- No lock: one event loop owns the pool, and the pool hands a connection to one request at a
  time (a second request on a busy connection still gets `ConnectionNotAvailable`).
- No tracing contexts: Specgate never sets httpcore2's `trace` extension, and httpcore2's
  debug log lines are not written.
- The request head and a body given as bytes go out in one write.
- The end of a response is handled synchronously (`close`): a complete exchange leaves the
  connection idle for reuse without an await, so the caller needs no shielded task to give it
  back; an incomplete one is closed (at once, by the pool: `close_now`), as httpcore2 closes it.

Stricter than httpcore2 (found by review): a connection is not reused after its request could
not be written whole (h11 counts it as sent, the socket did not take it), nor when bytes
arrived after the answer (a body on a 204 or on the answer to a HEAD): httpcore2 kept those in
h11's buffer and read them as the next request's answer, which may be another caller's.

What httpcore2 does and this keeps: a write error while sending is ignored so that an answer
the upstream sent before closing is still read; a connection closed before any answer is a
`RemoteProtocolError` ("Server disconnected without sending a response."); h11's protocol
errors become httpcore2's; interim (1xx) answers are skipped except 101, which ends the
exchange; keep-alive expiry and the is-readable poll decide when an idle connection is stale.
"""

from __future__ import annotations

import time
from typing import Any

import h11
import httpcore2

# An origin as a dictionary key (httpcore2's `Origin` is not hashable).
OriginKey = tuple[bytes, bytes, int]
_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class Request:
    """One request as the async pool sends it: what httpcore2's `Request` carries for it, with
    the body as bytes, built without httpcore2's per-field checks (`core.outbound.wire` builds
    the parts as httpx2 would, and h11 still validates every header line it sends)."""

    __slots__ = ("body", "headers", "key", "method", "origin", "target", "timeouts")

    def __init__(
        self,
        method: bytes,
        scheme: bytes,
        host: bytes,
        port: int | None,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        timeouts: dict[str, float] | None = None,
    ) -> None:
        port = _DEFAULT_PORTS[scheme] if port is None else port
        self.method = method
        self.key: OriginKey = (scheme, host, port)
        self.origin = httpcore2.Origin(scheme, host, port)
        self.target = target
        self.headers = headers
        self.body = body
        self.timeouts = {} if timeouts is None else timeouts


class Response:
    """A response's status line and headers; `stream` is its body (see `ResponseBody`)."""

    __slots__ = ("headers", "http_version", "reason_phrase", "status", "stream")

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        stream: Any,
        http_version: bytes,
        reason_phrase: bytes,
    ) -> None:
        self.status = status
        self.headers = headers
        self.stream = stream
        self.http_version = http_version
        self.reason_phrase = reason_phrase

    async def aclose(self) -> None:
        await self.stream.aclose()


# Connection states, as httpcore2's: a new connection serves its first request without being
# idle first; a connection whose exchange ended incomplete is BROKEN until someone closes it.
_NEW, _ACTIVE, _IDLE, _BROKEN, _CLOSED = range(5)
_NAMES = ("NEW", "ACTIVE", "IDLE", "BROKEN", "CLOSED")
_READ_NUM_BYTES = 64 * 1024  # httpcore2's read size and h11 incomplete-event limit
_MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024
_END = (h11.EndOfMessage, h11.ConnectionClosed)


class Http11Connection:
    """One HTTP/1.1 connection to one origin; see the module docstring."""

    __slots__ = (
        "_expire_at",
        "_h11",
        "_keepalive_expiry",
        "_origin",
        "_sent",
        "_state",
        "_stream",
    )

    def __init__(
        self,
        origin: httpcore2.Origin,
        stream: httpcore2.AsyncNetworkStream,
        keepalive_expiry: float | None = None,
    ) -> None:
        self._origin = origin
        self._stream = stream
        self._keepalive_expiry = keepalive_expiry
        self._expire_at: float | None = None
        self._state = _NEW
        # False when writing the request failed: h11 counts it as sent, the socket did not.
        self._sent = True
        self._h11 = h11.Connection(
            our_role=h11.CLIENT, max_incomplete_event_size=_MAX_INCOMPLETE_EVENT_SIZE
        )

    async def handle_async_request(self, request: Request) -> Response:
        if request.origin != self._origin:
            raise RuntimeError(
                f"Attempted to send request to {request.origin} on connection to {self._origin}"
            )
        if self._state != _NEW and self._state != _IDLE:
            raise httpcore2.ConnectionNotAvailable()
        self._state = _ACTIVE
        self._expire_at = None
        timeouts = request.timeouts
        try:
            try:
                await self._stream.write(self._request_bytes(request), timeouts.get("write"))
            except httpcore2.WriteError:
                # As httpcore2: the upstream may have answered and closed before taking the
                # whole request; read what it sent. The connection is not reused after that.
                self._sent = False
            read_timeout = timeouts.get("read")
            while True:
                event = await self._next_event(read_timeout)
                if isinstance(event, h11.Response):
                    break
                if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                    break
        except BaseException:
            self._state = _BROKEN  # never reused: what is left on the wire is unknown
            await self.aclose()
            raise
        return Response(
            event.status_code,
            event.headers.raw_items(),
            ResponseBody(self, read_timeout),
            b"HTTP/" + event.http_version,
            event.reason,
        )

    def _request_bytes(self, request: Request) -> bytes:
        connection = self._h11
        try:
            head = connection.send(
                h11.Request(method=request.method, target=request.target, headers=request.headers)
            )
            body = connection.send(h11.Data(data=request.body)) if request.body else None
            end = connection.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpcore2.LocalProtocolError(exc) from exc
        return b"".join(part for part in (head, body, end) if part)

    async def _next_event(self, timeout: float | None) -> Any:
        connection = self._h11
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore2.RemoteProtocolError(exc) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self._stream.read(_READ_NUM_BYTES, timeout)
            if data == b"" and connection.their_state == h11.SEND_RESPONSE:
                raise httpcore2.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            connection.receive_data(data)

    def response_closed(self) -> None:
        """The response is done with: idle for the next request if the exchange completed,
        otherwise BROKEN (its owner closes it).

        Complete means the whole request went out, h11 saw both messages end, and nothing
        arrived after the response: bytes an upstream sent beyond its answer (a body on a 204
        or on the answer to a HEAD) would otherwise be read as the next request's answer,
        which may be another caller's."""
        connection = self._h11
        if self._state != _ACTIVE:
            return
        if (
            self._sent
            and connection.our_state is h11.DONE
            and connection.their_state is h11.DONE
            and not connection.trailing_data[0]
        ):
            connection.start_next_cycle()
            self._state = _IDLE
            if self._keepalive_expiry is not None:
                self._expire_at = time.monotonic() + self._keepalive_expiry
        else:
            self._state = _BROKEN

    async def aclose(self) -> None:
        self._state = _CLOSED
        await self._stream.aclose()

    def close_now(self) -> bool:
        """Close without waiting when the stream can (ours aborts its transport); False when
        it cannot, and `aclose` is needed."""
        abort = getattr(self._stream, "abort", None)
        if abort is None:
            return False
        self._state = _CLOSED
        abort()
        return True

    def has_expired(self) -> bool:
        expire_at = self._expire_at
        if expire_at is not None and time.monotonic() > expire_at:
            return True
        # Idle with something to read: the only thing an idle HTTP/1.1 connection can have to
        # read is the end of the stream (the server closed it).
        return self._state == _IDLE and bool(self._stream.get_extra_info("is_readable"))

    def is_idle(self) -> bool:
        return self._state == _IDLE

    def is_closed(self) -> bool:
        return self._state == _CLOSED

    def __repr__(self) -> str:
        return f"<Http11Connection [{str(self._origin)!r}, {_NAMES[self._state]}]>"


class ResponseBody:
    """The body of one response, chunk by chunk; `close` ends the response (see
    `Http11Connection.response_closed`), `aclose` also closes a connection left broken."""

    __slots__ = ("_connection", "_done", "_timeout")

    def __init__(self, connection: Http11Connection, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._done = False

    def __aiter__(self) -> ResponseBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            try:
                event = await self._connection._next_event(self._timeout)
            except BaseException:
                self._done = True
                await self.aclose()
                raise
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, _END) or event is h11.PAUSED:
                self._done = True
        raise StopAsyncIteration

    def close(self) -> None:
        self._done = True
        self._connection.response_closed()

    async def aclose(self) -> None:
        self.close()
        if not self._connection.is_idle() and not self._connection.is_closed():
            await self._connection.aclose()
