"""HTTP/1.1 connections for the async pool: requests framed as h11 frames them, answers
parsed by httptools (llhttp).

httpcore2's `AsyncHTTP11Connection` drives an `h11.Connection` over a network stream. Around
that, per request, it takes an anyio lock twice, opens five tracing contexts, wraps the body in
two async generators, maps exceptions through context managers at every event and writes the
request head, body and end of message separately; h11 itself validates and builds an event
object for every message and header, in pure Python. For a call of a few hundred bytes that was
a third of a tools/call's CPU. This connection keeps what goes on the wire and what is accepted
from the upstream, and leaves the rest out:

- The request is framed by `request_bytes`, byte for byte as h11 writes it and refused where
  h11 refuses it, in h11's words (every header name and value checked, so none can carry a line
  break; Host first and once; Content-Length matching the body; only chunked as a transfer
  coding). core/tests/test_outbound_connection.py compares both on valid and refused requests.
- The answer is parsed by httptools, the binding to llhttp (Node.js's parser, in C) that
  uvicorn serves with, already installed through `uvicorn[standard]`. `_Answer` holds what its
  callbacks report. It is not an HTTP client: the request still goes through
  `core.outbound.exchange` (the address guard, redirects, caps, decoding, httpx2's semantics)
  and `core.outbound.pool`; the sync driver still runs on httpx2 unchanged.
- No lock: one event loop owns the pool, and the pool hands a connection to one request at a
  time (a second request on a busy connection still gets `ConnectionNotAvailable`).
- No tracing contexts: Specgate never sets httpcore2's `trace` extension, and httpcore2's
  debug log lines are not written.
- The request head and a body given as bytes go out in one write.
- The end of a response is handled synchronously (`close`): a complete exchange leaves the
  connection idle for reuse without an await, so the caller needs no shielded task to give it
  back; an incomplete one is closed (at once, by the pool: `close_now`), as httpcore2 closes it.

Stricter than httpcore2: a connection is not reused after its request could not be written
whole, nor when bytes arrived after the answer (a body on a 204 or on the answer to a HEAD):
httpcore2 kept those in h11's buffer and read them as the next request's answer, which may be
another caller's. llhttp refuses an answer with both Content-Length and Transfer-Encoding (h11
let the coding win), and a header folded over two lines (obs-fold, obsolete since RFC 7230;
h11 unfolded it). A whole answer that came in before the caller closed it unread leaves the
connection reusable (h11 still held the unread body, so httpcore2 closed it).

What httpcore2 does and this keeps: a write error while sending is ignored so that an answer
the upstream sent before closing is still read; a connection closed before any answer is a
`RemoteProtocolError` ("Server disconnected without sending a response."), as is every answer
the parser refuses (in llhttp's words), a head over 100 KB ("Receive buffer too long") and a
body cut short (h11's words); interim (1xx) answers are skipped; a 101 (never asked for) is
refused; an HTTP/1.0 answer or one saying `Connection: close` ends the connection, and a body
without a length runs to its end; keep-alive expiry and the is-readable poll decide when an
idle connection is stale.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpcore2
import httptools

# An origin as a dictionary key (httpcore2's `Origin` is not hashable).
OriginKey = tuple[bytes, bytes, int]
_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class Request:
    """One request as the async pool sends it: what httpcore2's `Request` carries for it, with
    the body as bytes, built without httpcore2's per-field checks (`core.outbound.wire` builds
    the parts as httpx2 would, and `request_bytes` validates every header line it sends)."""

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
# What h11 accepts in a request it sends (h11/_abnf.py): a token; a field value without NUL,
# CR, LF or other control whitespace, nor blanks at either end; a target of visible ASCII.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_LENGTH = re.compile(rb"[0-9]{1,20}")

_READ_NUM_BYTES = 64 * 1024  # httpcore2's read size
_MAX_HEAD_BYTES = 100 * 1024  # the answer's status line and headers: httpcore2's h11 limit
_NO_ANSWER = "Server disconnected without sending a response."


def request_bytes(request: Request) -> tuple[bytes, bool]:
    """REQUEST's bytes on the wire, and whether it lets the connection be kept.

    Byte for byte what h11 (httpcore2's) writes, and refused where h11 refuses it, with h11's
    words (`httpcore2.LocalProtocolError`): every name and value checked, so no header can
    smuggle a line break; Host first and only once; a Content-Length (commas of one repeated
    value folded to one) that must match the body; Transfer-Encoding only `chunked`, which
    frames the body in one chunk. A body with neither is refused: h11 frames such a request as
    empty. `Connection: close` makes the connection one-off."""
    method, target, body = request.method, request.target, request.body
    if _TOKEN.fullmatch(method) is None:
        raise httpcore2.LocalProtocolError("Illegal method characters")
    if _TARGET.fullmatch(target) is None:
        raise httpcore2.LocalProtocolError("Illegal target characters")
    host = b""
    lines = [method, b" ", target, b" HTTP/1.1\r\n", host]
    length: bytes | None = None
    chunked = False
    keep = True
    for name, value in request.headers:
        if _TOKEN.fullmatch(name) is None:
            raise httpcore2.LocalProtocolError(f"Illegal header name {name!r}")
        if _FIELD_VALUE.fullmatch(value) is None:
            raise httpcore2.LocalProtocolError(f"Illegal header value {value!r}")
        lowered = name.lower()
        if lowered == b"host":
            if host:
                raise httpcore2.LocalProtocolError("Found multiple Host: headers")
            host = lines[4] = name + b": " + value + b"\r\n"
            continue
        if lowered == b"content-length":
            lengths = {part.strip() for part in value.split(b",")}
            if len(lengths) != 1:
                raise httpcore2.LocalProtocolError("conflicting Content-Length headers")
            value = lengths.pop()
            if _LENGTH.fullmatch(value) is None:
                raise httpcore2.LocalProtocolError("bad Content-Length")
            if length is not None:
                if value != length:
                    raise httpcore2.LocalProtocolError("conflicting Content-Length headers")
                continue  # written once
            length = value
        elif lowered == b"transfer-encoding":
            if chunked:
                raise httpcore2.LocalProtocolError("multiple Transfer-Encoding headers")
            value = value.lower()
            if value != b"chunked":
                raise httpcore2.LocalProtocolError("Only Transfer-Encoding: chunked is supported")
            chunked = True
        elif lowered == b"connection" and b"close" in [
            part.strip() for part in value.lower().split(b",")
        ]:
            keep = False
        lines += (name, b": ", value, b"\r\n")
    if not host:
        raise httpcore2.LocalProtocolError("Missing mandatory Host: header")
    lines.append(b"\r\n")
    if chunked:
        if body:
            lines += (b"%x\r\n" % len(body), body, b"\r\n")
        lines.append(b"0\r\n\r\n")
    else:
        declared = 0 if length is None else int(length)
        if len(body) > declared:
            raise httpcore2.LocalProtocolError("Too much data for declared Content-Length")
        if len(body) < declared:
            raise httpcore2.LocalProtocolError("Too little data for declared Content-Length")
        if body:
            lines.append(body)
    return b"".join(lines), keep


class _Answer:
    """One answer as httptools' parser (llhttp) reports it: its callbacks fill this in.

    Interim answers (1xx but 101) are skipped; `head` is set once the final answer's status
    line and headers are in, `complete` once its body is. Anything the upstream sends after
    that (another message, body bytes after the answer to a HEAD or after a 204, or bytes the
    parser refuses) sets `extra`: the connection is then not reused."""

    __slots__ = (
        "body",
        "complete",
        "error",
        "expected",
        "extra",
        "head",
        "head_only",
        "headers",
        "keep_alive",
        "parser",
        "reason",
        "received",
        "status",
        "until_close",
        "version",
    )

    def __init__(self, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only  # the answer to a HEAD: no body, whatever its headers say
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.status = 0
        self.version = b"HTTP/1.1"
        self.head = False
        self.complete = False
        self.extra = False
        self.keep_alive = False
        self.until_close = False  # no length given: the body ends when the connection does
        self.expected: int | None = None  # Content-Length, for the error when it falls short
        self.received = 0  # bytes fed (before the head is in) or body bytes (after)
        self.body: list[bytes] = []
        self.error: httpcore2.RemoteProtocolError | None = None

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True
        else:  # the first answer, or the one after an interim answer
            self.headers = []
            self.reason = b""

    def on_status(self, reason: bytes) -> None:
        if not self.complete:
            self.reason += reason  # in pieces when it arrives in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head:  # after the head: a chunked body's trailer, left out as h11 does
            # llhttp drops the whitespace before a value, not after it (h11 drops both).
            self.headers.append((name, value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        if self.complete:
            return  # a message after the answer (`extra` is set): never read
        parser = self.parser
        status = parser.get_status_code()
        if status == 101:  # Specgate never asks to switch protocols
            raise httpcore2.RemoteProtocolError(
                "Received server _SWITCH_UPGRADE event without a pending proposal"
            )
        if status < 200:
            return  # interim: llhttp ends it here, without a body
        length: bytes | None = None
        codings = []
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = value
            elif lowered == b"transfer-encoding":
                codings.append(value.lower())
        if codings and codings != [b"chunked"]:
            # llhttp would read an unknown coding's body to the end of the connection.
            raise httpcore2.RemoteProtocolError("Only Transfer-Encoding: chunked is supported")
        self.status = status
        self.version = b"HTTP/" + parser.get_http_version().encode()
        # Asked now: llhttp forgets a message's keep-alive once the message is complete. An
        # HTTP/1.0 answer is never kept, as with h11.
        self.keep_alive = self.version == b"HTTP/1.1" and parser.should_keep_alive()
        self.head = True
        self.received = 0
        if self.head_only:
            self.complete = True
        elif status not in (204, 304):
            self.until_close = length is None and not codings
            self.expected = None if length is None else int(length)

    def on_body(self, chunk: bytes) -> None:
        if self.complete:
            self.extra = True
        else:
            self.received += len(chunk)
            self.body.append(chunk)

    def on_message_complete(self) -> None:
        if self.head:  # not an interim answer's end
            self.complete = True

    def feed(self, data: bytes) -> None:
        """Parse DATA; a refusal before the head is in is raised, one after it is kept in
        `error` for the body's reader (after the chunks before it), one after the answer is
        complete only marks the connection as not reusable."""
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.complete:
                self.extra = True
                return
            cause = exc.__context__ if isinstance(exc.__context__, httpcore2.ProtocolError) else exc
            error = httpcore2.RemoteProtocolError(str(cause) or type(cause).__name__)
            if not self.head:
                raise error from exc
            self.error = error
            return
        if not self.head:
            self.received += len(data)
            if self.received > _MAX_HEAD_BYTES:
                raise httpcore2.RemoteProtocolError("Receive buffer too long")

    def end_of_stream(self) -> None:
        """The upstream closed the connection: the end of a body that runs to it, or an error."""
        if not self.head:
            raise httpcore2.RemoteProtocolError(_NO_ANSWER)
        if self.complete:
            return
        if self.until_close and self.error is None:
            self.complete = True
            self.keep_alive = False
            return
        if self.error is None:
            self.error = httpcore2.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                + (
                    f"(received {self.received} bytes, expected {self.expected})"
                    if self.expected is not None
                    else "(incomplete chunked read)"
                )
            )


class Http11Connection:
    """One HTTP/1.1 connection to one origin; see the module docstring."""

    __slots__ = (
        "_answer",
        "_expire_at",
        "_keepalive_expiry",
        "_origin",
        "_reusable_request",
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
        self._answer: _Answer | None = None
        # False when the request asked to close (Connection: close) or could not be written
        # whole (the socket did not take it all).
        self._reusable_request = True

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
            data = self._request_bytes(request)
            answer = self._answer = _Answer(request.method == b"HEAD")
            try:
                await self._stream.write(data, timeouts.get("write"))
            except httpcore2.WriteError:
                # As httpcore2: the upstream may have answered and closed before taking the
                # whole request; read what it sent. The connection is not reused after that.
                self._reusable_request = False
            read_timeout = timeouts.get("read")
            while not answer.head:
                await self._read(answer, read_timeout)
        except BaseException:
            self._state = _BROKEN  # never reused: what is left on the wire is unknown
            await self.aclose()
            raise
        return Response(
            answer.status,
            answer.headers,
            ResponseBody(self, answer, read_timeout),
            answer.version,
            answer.reason,
        )

    def _request_bytes(self, request: Request) -> bytes:
        data, self._reusable_request = request_bytes(request)
        return data

    async def _read(self, answer: _Answer, timeout: float | None) -> None:
        data = await self._stream.read(_READ_NUM_BYTES, timeout)
        if data:
            answer.feed(data)
        else:
            answer.end_of_stream()

    def response_closed(self) -> None:
        """The response is done with: idle for the next request if the exchange completed,
        otherwise BROKEN (its owner closes it).

        Complete means the whole request went out, the whole answer came in, both sides
        keep the connection alive, and nothing arrived after the answer: bytes an upstream
        sent beyond it (a body on a 204 or on the answer to a HEAD) would otherwise be read as
        the next request's answer, which may be another caller's."""
        if self._state != _ACTIVE:
            return
        answer = self._answer
        self._answer = None
        if (
            self._reusable_request
            and answer is not None
            and answer.complete
            and answer.keep_alive
            and not answer.extra
        ):
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

    __slots__ = ("_answer", "_connection", "_done", "_timeout")

    def __init__(
        self, connection: Http11Connection, answer: _Answer, timeout: float | None
    ) -> None:
        self._connection = connection
        self._answer = answer
        self._timeout = timeout
        self._done = False

    def __aiter__(self) -> ResponseBody:
        return self

    async def __anext__(self) -> bytes:
        answer = self._answer
        while not self._done:
            body = answer.body
            if body:
                chunk = body[0] if len(body) == 1 else b"".join(body)
                body.clear()
                return chunk
            if answer.error is not None:
                self._done = True
                await self.aclose()
                raise answer.error
            if answer.complete:
                self._done = True
                break
            try:
                await self._connection._read(answer, self._timeout)
            except BaseException:
                self._done = True
                await self.aclose()
                raise
        raise StopAsyncIteration

    def close(self) -> None:
        self._done = True
        self._connection.response_closed()

    async def aclose(self) -> None:
        self.close()
        if not self._connection.is_idle() and not self._connection.is_closed():
            await self._connection.aclose()
