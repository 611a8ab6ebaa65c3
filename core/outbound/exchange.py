"""One exchange: the request a caller asked for, from first hop to decoded body.

`request` / `arequest` drive it over the guarded transport. An exchange:

- refuses anything but absolute http(s) URLs, and IP literals the address guard forbids;
- follows redirects itself, up to a cap, checking each target again and dropping credentials
  when the origin changes;
- stops reading the body at a byte cap (decompressing within the cap, so a gzip bomb stays small);
- ends the whole exchange, body included, within a total time limit;
- raises one error type, `OutboundError`, whose message names at most the origin (never a
  path, query string or header, which may carry secrets).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import urlsplit

import h11
import httpcore2
import httpx2

from core.observability import tracing
from core.outbound.connection import Request
from core.outbound.guard import AddressBlocked, guard_for, literal_ip
from core.outbound.pool import PooledStream
from core.outbound.transport import (
    GuardedSyncTransport,
    UnresolvableHost,
    async_pool,
    sync_deadline,
    sync_transport,
)
from core.outbound.wire import ResponseHeaders, Target, parse_target, request_headers, target_of

ErrorKind = Literal[
    "blocked", "timeout", "connect", "too_large", "redirect", "invalid_url", "protocol"
]
OnTooLarge = Literal["truncate", "error"]
HeadersInput = Mapping[str, str] | Sequence[tuple[str, str]]
# What the exchange reads a response's headers through: httpx2's on the sync path, the async
# path's own reading of httpcore2's header lines.
ResponseHeaderView = httpx2.Headers | ResponseHeaders


class RequestExtras(TypedDict, total=False):
    """What a request may carry beyond its method, URL and options (`request`, `arequest`)."""

    params: Any
    headers: HeadersInput | None
    cookies: Mapping[str, str] | None
    content: bytes | str | None
    on_too_large: OnTooLarge
    sensitive_headers: Collection[str]


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})
_ENCODED_BODY_HEADERS = frozenset({"content-encoding", "content-length"})
_DECODED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})
# Accepts both zlib- and gzip-wrapped streams.
_ZLIB_AUTO_HEADER = zlib.MAX_WBITS | 32


class OutboundError(Exception):
    """An outbound request that produced no usable response; `kind` says why."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class OutboundOptions:
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_response_bytes: int = 10 * 1024 * 1024
    # Development and tests need loopback upstreams; production leaves this off.
    allow_private: bool = False
    max_redirects: int = 5
    user_agent: str = "Specgate"
    # Finer than allow_private: CIDRs exempt from the guard (e.g. "127.0.0.1/32" for a local
    # upstream while the metadata address stays blocked).
    allowed_networks: tuple[str, ...] = ()
    # With tracing on, send the request's span as a W3C `traceparent` header.
    propagate_trace: bool = True
    # Test-only: a PEM file of one more certificate authority to trust for TLS, so tests can
    # serve HTTPS on loopback with a throwaway CA. Production leaves it None.
    extra_ca_file: str | None = None

    def __post_init__(self) -> None:
        # A mistyped exemption must fail when settings load, not on the first upstream call.
        # The parsed guard is cached, so options built per call do not parse the CIDRs again.
        guard_for(self.allow_private, tuple(self.allowed_networks))


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status_code: int
    # Lower-cased names, in the order received. When the body was gzip/deflate-encoded it is
    # returned decoded and the content-encoding/content-length headers are left out.
    headers: list[tuple[str, str]]
    content: bytes
    truncated: bool
    # The URL of the last hop; it may carry credentials in its query string.
    url: str
    elapsed_ms: float

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


# --- One exchange: the shared logic of the sync and async drivers ------------------------------


def _same_origin(a: Target, b: Target) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class _Body:
    """The response body, read up to a byte cap, decompressed within that cap."""

    def __init__(self, limit: int, on_too_large: OnTooLarge, origin: str) -> None:
        self._limit = limit
        self._on_too_large = on_too_large
        self._origin = origin
        self._parts: list[bytes] = []
        self._size = 0
        self._decoder: Any = None
        self.truncated = False
        self.decoded = False

    def start(self, headers: ResponseHeaderView) -> None:
        if (headers.get("content-encoding") or "").strip().lower() in _DECODED_ENCODINGS:
            self._decoder = zlib.decompressobj(_ZLIB_AUTO_HEADER)
            self.decoded = True

    def feed(self, chunk: bytes) -> bool:
        """Add a received chunk; True when the cap is reached and reading should stop."""
        room = self._limit - self._size
        # Asking the decompressor for one byte more than fits is how the cap is detected
        # without ever inflating more than that.
        data = self._decoder.decompress(chunk, room + 1) if self._decoder else chunk
        return self._append(data, room)

    def finish(self) -> bytes:
        if self._decoder is not None and not self.truncated:
            self._append(self._decoder.flush(), self._limit - self._size)
        return b"".join(self._parts)

    def _append(self, data: bytes, room: int) -> bool:
        if len(data) <= room:
            self._parts.append(data)
            self._size += len(data)
            return False
        if self._on_too_large == "error":
            raise OutboundError(
                "too_large",
                f"The response from {self._origin} is larger than the limit of "
                f"{self._limit} bytes.",
            )
        self._parts.append(data[:room])
        self._size += room
        self.truncated = True
        return True


class _Exchange:
    """One logical request: its redirect hops, its deadline and its body."""

    def __init__(
        self,
        method: str,
        url: str,
        *,
        options: OutboundOptions,
        params: Any = None,
        headers: HeadersInput | None = None,
        cookies: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        on_too_large: OnTooLarge = "error",
        sensitive_headers: Collection[str] = (),
    ) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + options.total_timeout
        self.options = options
        self.guard = guard_for(options.allow_private, options.allowed_networks)
        self.method = method.upper()
        self.url = self._parse(url, params)
        self.origin = self.url.origin
        self.content = content
        self.headers = _initial_headers(headers, cookies, options.user_agent)
        self.sensitive_headers = _CREDENTIAL_HEADERS | {name.lower() for name in sensitive_headers}
        self.on_too_large = on_too_large
        self.redirects = 0

    def _parse(self, url: str, params: Any) -> Target:
        try:
            parsed = parse_target(url, params)
        except (httpx2.InvalidURL, TypeError, ValueError):
            raise OutboundError("invalid_url", "The upstream URL is not a valid URL.") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise OutboundError(
                "invalid_url", "Only absolute http:// and https:// upstream URLs are allowed."
            )
        self._refuse_forbidden_literal(parsed)
        return parsed

    def _refuse_forbidden_literal(self, url: Target) -> None:
        # Names are checked when connecting; an IP literal can be refused without a socket.
        ip = literal_ip(url.host)
        if ip is not None and not self.guard.permits(ip):
            raise OutboundError("blocked", _blocked_message(url.origin))

    def _timeouts(self) -> dict[str, float]:
        remaining = self.remaining()
        return {
            "connect": min(self.options.connect_timeout, remaining),
            "read": remaining,
            "write": remaining,
            "pool": remaining,
        }

    def build_request(self) -> httpx2.Request:
        return httpx2.Request(
            self.method,
            self.url.as_httpx(),
            headers=self.headers,
            content=self.content,
            extensions={"timeout": self._timeouts()},
        )

    def build_core_request(self) -> Request:
        """The request `build_request` describes, as httpx2 would hand it to httpcore2's pool."""
        content = self.content
        body = content.encode("utf-8") if isinstance(content, str) else content or b""
        url = self.url
        return Request(
            self.method.encode("ascii"),
            url.scheme.encode("ascii"),
            url.raw_host,
            url.port,
            url.raw_path,
            request_headers(self.method, url, self.headers, body),
            body,
            # Only the connect timeout: the async driver's `asyncio.timeout` bounds the whole
            # exchange, so a read, write or pool wait needs no timer of its own.
            {"connect": min(self.options.connect_timeout, self.remaining())},
        )

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutboundError("timeout", self.timeout_message())
        return left

    def follow_redirect(self, status_code: int, headers: ResponseHeaderView) -> bool:
        """Set up the next hop when the response is a redirect; False when it is the answer."""
        location = headers.get("location")
        if status_code not in _REDIRECT_STATUSES or not location:
            return False
        if self.redirects >= self.options.max_redirects:
            raise OutboundError(
                "redirect",
                f"{self.origin} redirected more than {self.options.max_redirects} times.",
            )
        try:
            target = target_of(self.url.as_httpx().join(location))
        except httpx2.InvalidURL:
            raise OutboundError(
                "redirect", f"{self.origin} redirected to an invalid URL."
            ) from None
        if target.scheme not in ("http", "https") or not target.host:
            raise OutboundError("redirect", f"{self.origin} redirected to a non-http(s) URL.")
        self._refuse_forbidden_literal(target)
        if not _same_origin(self.url, target):
            self.headers = _without(self.headers, self.sensitive_headers)
        if _redirect_turns_into_get(status_code, self.method):
            self.method = "GET"
            self.content = None
            self.headers = _without(self.headers, _BODY_HEADERS)
        self.url = target
        self.origin = target.origin
        self.redirects += 1
        return True

    def new_body(self, headers: ResponseHeaderView) -> _Body:
        body = _Body(self.options.max_response_bytes, self.on_too_large, self.origin)
        body.start(headers)
        return body

    def result(
        self, status_code: int, response_headers: ResponseHeaderView, body: _Body
    ) -> OutboundResponse:
        content = body.finish()
        headers = response_headers.multi_items()
        if body.decoded:
            headers = _without(headers, _ENCODED_BODY_HEADERS)
        return OutboundResponse(
            status_code=status_code,
            headers=headers,
            content=content,
            truncated=body.truncated,
            url=self.url.text,
            elapsed_ms=round((time.monotonic() - self.started) * 1000, 3),
        )

    def timeout_message(self) -> str:
        return f"{self.origin} did not answer within {self.options.total_timeout:g} s."


def _initial_headers(
    headers: HeadersInput | None, cookies: Mapping[str, str] | None, user_agent: str
) -> list[tuple[str, str]]:
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    present = {name.lower() for name, _ in pairs}
    if "user-agent" not in present:
        pairs.append(("User-Agent", user_agent))
    if "accept-encoding" not in present:
        pairs.append(("Accept-Encoding", "gzip, deflate"))
    if cookies:
        pairs.append(("Cookie", "; ".join(f"{name}={value}" for name, value in cookies.items())))
    return pairs


def _without(headers: list[tuple[str, str]], names: Collection[str]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in names]


def _redirect_turns_into_get(status_code: int, method: str) -> bool:
    # What browsers do, and what RFC 9110 permits: 303 always, 301/302 for POST.
    if status_code == 303:
        return method != "HEAD"
    return status_code in (301, 302) and method == "POST"


def _blocked_message(origin: str) -> str:
    return f"Refused to contact {origin}: it is not a public address."


@contextmanager
def _translated_errors(exchange: _Exchange) -> Iterator[None]:
    """Turn whatever the HTTP stack raised into one OutboundError with a secret-free message.

    `exchange.origin` is read when the error happens: it is the hop that failed.
    """
    try:
        yield
    except OutboundError:
        raise
    except AddressBlocked:
        raise OutboundError("blocked", _blocked_message(exchange.origin)) from None
    # The async driver meets httpcore2's exceptions, the sync one httpx2's mapping of them.
    except (httpx2.ConnectTimeout, httpcore2.ConnectTimeout):
        raise OutboundError(
            "timeout",
            f"Timed out connecting to {exchange.origin} ({exchange.options.connect_timeout:g} s).",
        ) from None
    except (TimeoutError, httpx2.TimeoutException, httpcore2.TimeoutException):
        raise OutboundError("timeout", exchange.timeout_message()) from None
    except (httpx2.ConnectError, httpcore2.ConnectError) as exc:
        raise OutboundError(
            "connect", f"Could not connect to {exchange.origin}: {_connect_reason(exc)}."
        ) from None
    except (httpx2.LocalProtocolError, httpcore2.LocalProtocolError, h11.LocalProtocolError):
        # Our side: the request's own headers (a given Content-Length that does not match the
        # body, a header line HTTP does not allow) could not be framed. httpcore2's sync
        # connection lets h11's own error through when the body does not match.
        raise OutboundError(
            "protocol",
            f"The request to {exchange.origin} is not valid HTTP: its headers are not allowed "
            "or do not match its body.",
        ) from None
    except (httpx2.UnsupportedProtocol, httpx2.InvalidURL, httpcore2.UnsupportedProtocol):
        raise OutboundError("invalid_url", "The upstream URL is not a valid http(s) URL.") from None
    except (
        httpx2.TransportError,
        httpx2.DecodingError,
        zlib.error,
        httpcore2.NetworkError,
        httpcore2.ProtocolError,
        httpcore2.ProxyError,
    ):
        raise OutboundError(
            "protocol",
            f"{exchange.origin} sent a malformed response or closed the connection early.",
        ) from None


def _connect_reason(exc: BaseException) -> str:
    # Only OS-level reasons ("Connection refused") are shown; they never carry request data.
    cause: BaseException | None = exc
    while cause is not None:
        # Checked first: an SSLError is an OSError whose errno means nothing to a reader.
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "its TLS certificate could not be verified"
        if isinstance(cause, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        if isinstance(cause, UnresolvableHost):
            return "the host name could not be resolved"
        cause = cause.__cause__ or cause.__context__
    return "connection failed"


# --- The drivers -------------------------------------------------------------------------------


async def arequest(
    method: str,
    url: str,
    *,
    options: OutboundOptions,
    **extra: Unpack[RequestExtras],
) -> OutboundResponse:
    """Make one guarded HTTP request (following redirects) and read its body within the caps.

    `sensitive_headers` names extra headers that carry credentials (an API key header); like
    Authorization and Cookie they are dropped when a redirect leaves the original origin.
    """
    if tracing.ENABLED:
        if not tracing.in_unsampled_trace():
            return await _traced(method, url, options, extra)
        if options.propagate_trace:  # the upstream still learns the trace and its decision
            extra = _with_traceparent(extra)
    return await _drive_async(_Exchange(method, url, options=options, **extra))


async def _drive_async(exchange: _Exchange) -> OutboundResponse:
    pool = async_pool(exchange.guard, exchange.options.extra_ca_file)
    # asyncio's own timeout rather than anyio's cancel scope: the same one cancellation at the
    # deadline (TimeoutError, translated below), for less work per call.
    with _translated_errors(exchange):
        async with asyncio.timeout(exchange.options.total_timeout):
            while True:
                response = await pool.handle_async_request(exchange.build_core_request())
                stream: PooledStream = response.stream
                try:
                    headers = ResponseHeaders(response.headers)
                    if exchange.follow_redirect(response.status, headers):
                        continue
                    body = exchange.new_body(headers)
                    async for chunk in stream:
                        if body.feed(chunk):
                            break
                    return exchange.result(response.status, headers, body)
                finally:
                    # No await: a cancellation cannot keep the connection from being returned
                    # (or discarded, when its exchange did not complete).
                    stream.close()


def _with_traceparent(extra: RequestExtras) -> RequestExtras:
    given = extra.get("headers") or ()
    headers = list(given.items() if isinstance(given, Mapping) else given)
    tracing.inject_into(headers)
    return {**extra, "headers": headers}


async def _traced(
    method: str, url: str, options: OutboundOptions, extra: RequestExtras
) -> OutboundResponse:
    """`arequest` inside a client span; the span's attributes name the origin only (a path or
    query string may carry secrets), and `traceparent` goes out when the options say so."""
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "http.request.method": method.upper(),
        "server.address": parts.hostname or "",
        "url.scheme": parts.scheme,
    }
    with tracing.tracer().start_as_current_span(
        method.upper(), kind=tracing.SpanKind.CLIENT, attributes=attributes
    ) as span:
        if options.propagate_trace:
            extra = _with_traceparent(extra)
        try:
            response = await _drive_async(_Exchange(method, url, options=options, **extra))
        except OutboundError as exc:
            span.set_attribute("error.type", exc.kind)
            span.set_status(tracing.Status(tracing.StatusCode.ERROR, exc.kind))
            raise
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(tracing.Status(tracing.StatusCode.ERROR))
        return response


def request(
    method: str,
    url: str,
    *,
    options: OutboundOptions,
    **extra: Unpack[RequestExtras],
) -> OutboundResponse:
    """The blocking twin of `arequest`, for Celery tasks and management commands."""
    exchange = _Exchange(method, url, options=options, **extra)
    transport = sync_transport(exchange.guard, options.extra_ca_file)
    deadline_token = sync_deadline.set(exchange.deadline)
    try:
        return _drive_sync(exchange, transport)
    finally:
        sync_deadline.reset(deadline_token)


def _drive_sync(exchange: _Exchange, transport: GuardedSyncTransport) -> OutboundResponse:
    with _translated_errors(exchange):
        while True:
            response = transport.handle_request(exchange.build_request())
            try:
                if exchange.follow_redirect(response.status_code, response.headers):
                    continue
                body = exchange.new_body(response.headers)
                # Each socket read waits at most until the deadline; checking it between chunks
                # also stops an upstream that trickles a byte at a time.
                for chunk in response.stream:  # type: ignore[union-attr]
                    if body.feed(chunk):
                        break
                    exchange.remaining()
                return exchange.result(response.status_code, response.headers, body)
            finally:
                response.close()
