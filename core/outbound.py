"""The one way Specgate makes HTTP requests to the outside world (CONTRACT §11b).

Upstream API calls and spec URL fetches go through `request` / `arequest`. They:

- refuse anything but absolute http(s) URLs;
- refuse hosts that resolve to loopback, private, link-local, metadata, CGNAT, multicast or
  otherwise non-public addresses, checked when the socket is opened (so a DNS answer that
  changes between a check and the connect cannot slip through) and again on every redirect;
- follow redirects themselves, up to a cap, dropping credentials when the origin changes;
- stop reading the body at a byte cap (decompressing within the cap, so a gzip bomb stays small);
- end the whole exchange, body included, within a total time limit;
- raise one error type, `OutboundError`, whose message names at most the origin (never a
  path, query string or header, which may carry secrets).

Connections are pooled: one pool per event loop for async callers, one per process for sync
callers, and separate pools per address policy so a connection opened under a lenient policy is
never reused under a strict one. No Django here: the caller passes `OutboundOptions`.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpcore2
import httpx2
from httpcore2._backends.anyio import AnyIOStream
from httpcore2._utils import is_socket_readable

__all__ = [
    "OutboundError",
    "OutboundOptions",
    "OutboundResponse",
    "aclose_pools",
    "arequest",
    "close_pools",
    "is_public_address",
    "request",
]

ErrorKind = Literal[
    "blocked", "timeout", "connect", "too_large", "redirect", "invalid_url", "protocol"
]
OnTooLarge = Literal["truncate", "error"]
HeadersInput = Mapping[str, str] | Sequence[tuple[str, str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
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

    def __post_init__(self) -> None:
        # A mistyped exemption must fail when settings load, not on the first upstream call.
        for cidr in self.allowed_networks:
            ipaddress.ip_network(cidr)


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


# --- The address guard -------------------------------------------------------------------------


def is_public_address(address: str | IPAddress) -> bool:
    """Whether an IP address is one Specgate may contact without an operator exemption."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    # is_global alone has shifted between Python releases; the explicit checks pin the policy.
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _CGNAT
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # Addresses that reach an IPv4 host are judged by that host: ::ffff:127.0.0.1 is loopback.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


class _AddressBlocked(Exception):
    """Raised from inside the connection pool when a host resolves to a forbidden address."""


class _UnresolvableHost(httpcore2.ConnectError):
    pass


@dataclass(frozen=True, slots=True)
class _Guard:
    allow_private: bool
    allowed_networks: tuple[IPNetwork, ...]

    @classmethod
    def from_options(cls, options: OutboundOptions) -> _Guard:
        return _guard(options.allow_private, options.allowed_networks)

    def permits(self, address: str | IPAddress) -> bool:
        if self.allow_private:
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
        return is_public_address(ip) or any(ip in network for network in self.allowed_networks)

    def vetted_addresses(self, resolved: Iterable[tuple[Any, ...]]) -> list[str]:
        """The distinct addresses of a getaddrinfo answer, refusing all if any is forbidden."""
        addresses = list(dict.fromkeys(str(info[4][0]) for info in resolved))
        # A name with one public and one private record is a rebinding trick, not a mistake.
        if not addresses or not all(self.permits(address) for address in addresses):
            raise _AddressBlocked
        return addresses


@functools.lru_cache(maxsize=64)
def _guard(allow_private: bool, allowed_networks: tuple[str, ...]) -> _Guard:
    networks = tuple(ipaddress.ip_network(cidr) for cidr in allowed_networks)
    return _Guard(allow_private=allow_private, allowed_networks=networks)


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# --- Network backends that connect only to vetted addresses ------------------------------------


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


class _PooledStream(AnyIOStream):
    """httpcore2's AnyIO stream with its raw socket looked up once.

    The connection pool asks every pooled connection `is_readable` on each request; the
    stock stream resolves the socket through anyio's typed attributes every time, which
    made that check the largest single cost of a proxied call.
    """

    def __init__(self, stream: AnyIOStream) -> None:
        super().__init__(stream._stream)
        self._raw_socket = stream.get_extra_info("socket")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_socket_readable(self._raw_socket)
        if info == "socket":
            return self._raw_socket
        return super().get_extra_info(info)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        tls = await super().start_tls(ssl_context, server_hostname, timeout)
        return _PooledStream(tls) if isinstance(tls, AnyIOStream) else tls


def _pooled(stream: httpcore2.AsyncNetworkStream) -> httpcore2.AsyncNetworkStream:
    return _PooledStream(stream) if isinstance(stream, AnyIOStream) else stream


class _GuardedAsyncBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        if self._guard.allow_private:
            return _pooled(
                await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                resolved = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout("name resolution timed out") from exc
        except OSError as exc:
            raise _UnresolvableHost(host) from exc
        last_error: Exception | None = None
        for address in self._guard.vetted_addresses(resolved):
            try:
                return _pooled(
                    await self._inner.connect_tcp(
                        address, port, _remaining(deadline), local_address, socket_options
                    )
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vetted_addresses never returns an empty list
        raise last_error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise _AddressBlocked

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# Sync code has no cancel scope to bound a whole exchange, so the sync driver publishes its
# deadline here and every socket operation waits at most until then.
_sync_deadline: ContextVar[float | None] = ContextVar("outbound_sync_deadline", default=None)


def _until_sync_deadline(timeout: float | None) -> float | None:
    deadline = _sync_deadline.get()
    if deadline is None:
        return timeout
    # Never 0: a zero socket timeout means non-blocking, not "already expired".
    left = max(deadline - time.monotonic(), 0.001)
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _until_sync_deadline(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _until_sync_deadline(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _until_sync_deadline(timeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedSyncBackend(httpcore2.NetworkBackend):
    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        timeout = _until_sync_deadline(timeout)
        if self._guard.allow_private:
            stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            return _DeadlineStream(stream)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _UnresolvableHost(host) from exc
        last_error: Exception | None = None
        for address in self._guard.vetted_addresses(resolved):
            try:
                stream = self._inner.connect_tcp(
                    address, port, _remaining(deadline), local_address, socket_options
                )
                return _DeadlineStream(stream)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vetted_addresses never returns an empty list
        raise last_error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        raise _AddressBlocked


# --- Pools -------------------------------------------------------------------------------------

_POOL_LIMITS: dict[str, Any] = {
    "max_connections": 200,
    "max_keepalive_connections": 50,
    "keepalive_expiry": 30.0,
}


class _GuardedAsyncTransport(httpx2.AsyncHTTPTransport):
    # httpx2's transport takes no network backend, so build its pool ourselves; the rest of
    # the transport (request/response mapping, error mapping) is reused unchanged.
    def __init__(self, guard: _Guard) -> None:
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            network_backend=_GuardedAsyncBackend(guard),
            **_POOL_LIMITS,
        )


class _GuardedSyncTransport(httpx2.HTTPTransport):
    def __init__(self, guard: _Guard) -> None:
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            network_backend=_GuardedSyncBackend(guard),
            **_POOL_LIMITS,
        )


_async_transports: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[_Guard, _GuardedAsyncTransport]
] = weakref.WeakKeyDictionary()
_sync_transports: dict[tuple[int, _Guard], _GuardedSyncTransport] = {}
_sync_lock = threading.Lock()


def _async_transport(guard: _Guard) -> _GuardedAsyncTransport:
    per_loop = _async_transports.setdefault(asyncio.get_running_loop(), {})
    if guard not in per_loop:
        per_loop[guard] = _GuardedAsyncTransport(guard)
    return per_loop[guard]


def _sync_transport(guard: _Guard) -> _GuardedSyncTransport:
    # Keyed by process id: a forked worker must not share its parent's sockets.
    key = (os.getpid(), guard)
    with _sync_lock:
        if key not in _sync_transports:
            _sync_transports[key] = _GuardedSyncTransport(guard)
        return _sync_transports[key]


async def aclose_pools() -> None:
    """Close the current event loop's pooled connections (for shutdown and tests)."""
    for transport in _async_transports.pop(asyncio.get_running_loop(), {}).values():
        await transport.aclose()


def close_pools() -> None:
    """Close this process's pooled sync connections (for shutdown and tests)."""
    with _sync_lock:
        transports = list(_sync_transports.values())
        _sync_transports.clear()
    for transport in transports:
        transport.close()


# --- One exchange: the shared logic of the sync and async drivers ------------------------------


def _origin(url: httpx2.URL) -> str:
    # Built by hand rather than from netloc, which would include any user:password.
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = "" if url.port is None else f":{url.port}"
    return f"{url.scheme}://{host}{port}"


def _same_origin(a: httpx2.URL, b: httpx2.URL) -> bool:
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

    def start(self, headers: httpx2.Headers) -> None:
        if headers.get("content-encoding", "").strip().lower() in _DECODED_ENCODINGS:
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
        params: Any,
        headers: HeadersInput | None,
        cookies: Mapping[str, str] | None,
        content: bytes | str | None,
        options: OutboundOptions,
        on_too_large: OnTooLarge,
        sensitive_headers: Collection[str],
    ) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + options.total_timeout
        self.options = options
        self.guard = _Guard.from_options(options)
        self.method = method.upper()
        self.url = self._parse(url, params)
        self.origin = _origin(self.url)
        self.content = content
        self.headers = _initial_headers(headers, cookies, options.user_agent)
        self.sensitive_headers = _CREDENTIAL_HEADERS | {name.lower() for name in sensitive_headers}
        self.on_too_large = on_too_large
        self.redirects = 0

    def _parse(self, url: str, params: Any) -> httpx2.URL:
        try:
            parsed = httpx2.URL(url)
            if params is not None:
                parsed = parsed.copy_merge_params(params)
        except (httpx2.InvalidURL, TypeError, ValueError):
            raise OutboundError("invalid_url", "The upstream URL is not a valid URL.") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise OutboundError(
                "invalid_url", "Only absolute http:// and https:// upstream URLs are allowed."
            )
        self._refuse_forbidden_literal(parsed)
        return parsed

    def _refuse_forbidden_literal(self, url: httpx2.URL) -> None:
        # Names are checked when connecting; an IP literal can be refused without a socket.
        ip = _literal_ip(url.host)
        if ip is not None and not self.guard.permits(ip):
            raise OutboundError("blocked", _blocked_message(_origin(url)))

    def build_request(self) -> httpx2.Request:
        remaining = self.remaining()
        timeouts = {
            "connect": min(self.options.connect_timeout, remaining),
            "read": remaining,
            "write": remaining,
            "pool": remaining,
        }
        return httpx2.Request(
            self.method,
            self.url,
            headers=self.headers,
            content=self.content,
            extensions={"timeout": timeouts},
        )

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutboundError("timeout", self.timeout_message())
        return left

    def follow_redirect(self, response: httpx2.Response) -> bool:
        """Set up the next hop when the response is a redirect; False when it is the answer."""
        location = response.headers.get("location")
        if response.status_code not in _REDIRECT_STATUSES or not location:
            return False
        if self.redirects >= self.options.max_redirects:
            raise OutboundError(
                "redirect",
                f"{self.origin} redirected more than {self.options.max_redirects} times.",
            )
        try:
            target = self.url.join(location)
        except httpx2.InvalidURL:
            raise OutboundError(
                "redirect", f"{self.origin} redirected to an invalid URL."
            ) from None
        if target.scheme not in ("http", "https") or not target.host:
            raise OutboundError("redirect", f"{self.origin} redirected to a non-http(s) URL.")
        self._refuse_forbidden_literal(target)
        if not _same_origin(self.url, target):
            self.headers = _without(self.headers, self.sensitive_headers)
        if _redirect_turns_into_get(response.status_code, self.method):
            self.method = "GET"
            self.content = None
            self.headers = _without(self.headers, _BODY_HEADERS)
        self.url = target
        self.origin = _origin(target)
        self.redirects += 1
        return True

    def new_body(self, response: httpx2.Response) -> _Body:
        body = _Body(self.options.max_response_bytes, self.on_too_large, self.origin)
        body.start(response.headers)
        return body

    def result(self, response: httpx2.Response, body: _Body) -> OutboundResponse:
        content = body.finish()
        headers = response.headers.multi_items()
        if body.decoded:
            headers = _without(headers, _ENCODED_BODY_HEADERS)
        return OutboundResponse(
            status_code=response.status_code,
            headers=headers,
            content=content,
            truncated=body.truncated,
            url=str(self.url),
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
    except _AddressBlocked:
        raise OutboundError("blocked", _blocked_message(exchange.origin)) from None
    except httpx2.ConnectTimeout:
        raise OutboundError(
            "timeout",
            f"Timed out connecting to {exchange.origin} ({exchange.options.connect_timeout:g} s).",
        ) from None
    except (TimeoutError, httpx2.TimeoutException):
        raise OutboundError("timeout", exchange.timeout_message()) from None
    except httpx2.ConnectError as exc:
        raise OutboundError(
            "connect", f"Could not connect to {exchange.origin}: {_connect_reason(exc)}."
        ) from None
    except (httpx2.UnsupportedProtocol, httpx2.InvalidURL):
        raise OutboundError("invalid_url", "The upstream URL is not a valid http(s) URL.") from None
    except (httpx2.TransportError, httpx2.DecodingError, zlib.error):
        raise OutboundError(
            "protocol",
            f"{exchange.origin} sent a malformed response or closed the connection early.",
        ) from None


def _connect_reason(exc: BaseException) -> str:
    # Only OS-level reasons ("Connection refused") are shown; they never carry request data.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        if isinstance(cause, _UnresolvableHost):
            return "the host name could not be resolved"
        cause = cause.__cause__ or cause.__context__
    return "connection failed"


# --- The drivers -------------------------------------------------------------------------------


async def arequest(
    method: str,
    url: str,
    *,
    params: Any = None,
    headers: HeadersInput | None = None,
    cookies: Mapping[str, str] | None = None,
    content: bytes | str | None = None,
    options: OutboundOptions,
    on_too_large: OnTooLarge = "error",
    sensitive_headers: Collection[str] = (),
) -> OutboundResponse:
    """Make one guarded HTTP request (following redirects) and read its body within the caps.

    `sensitive_headers` names extra headers that carry credentials (an API key header); like
    Authorization and Cookie they are dropped when a redirect leaves the original origin.
    """
    exchange = _Exchange(
        method,
        url,
        params=params,
        headers=headers,
        cookies=cookies,
        content=content,
        options=options,
        on_too_large=on_too_large,
        sensitive_headers=sensitive_headers,
    )
    transport = _async_transport(exchange.guard)
    with _translated_errors(exchange), anyio.fail_after(options.total_timeout):
        while True:
            response = await transport.handle_async_request(exchange.build_request())
            try:
                if exchange.follow_redirect(response):
                    continue
                body = exchange.new_body(response)
                async for chunk in response.stream:  # type: ignore[union-attr]
                    if body.feed(chunk):
                        break
                return exchange.result(response, body)
            finally:
                # Shielded so that a timeout still returns or discards the connection.
                with anyio.CancelScope(shield=True):
                    await response.aclose()


def request(
    method: str,
    url: str,
    *,
    params: Any = None,
    headers: HeadersInput | None = None,
    cookies: Mapping[str, str] | None = None,
    content: bytes | str | None = None,
    options: OutboundOptions,
    on_too_large: OnTooLarge = "error",
    sensitive_headers: Collection[str] = (),
) -> OutboundResponse:
    """The blocking twin of `arequest`, for Celery tasks and management commands."""
    exchange = _Exchange(
        method,
        url,
        params=params,
        headers=headers,
        cookies=cookies,
        content=content,
        options=options,
        on_too_large=on_too_large,
        sensitive_headers=sensitive_headers,
    )
    transport = _sync_transport(exchange.guard)
    deadline_token = _sync_deadline.set(exchange.deadline)
    try:
        return _drive_sync(exchange, transport)
    finally:
        _sync_deadline.reset(deadline_token)


def _drive_sync(exchange: _Exchange, transport: _GuardedSyncTransport) -> OutboundResponse:
    with _translated_errors(exchange):
        while True:
            response = transport.handle_request(exchange.build_request())
            try:
                if exchange.follow_redirect(response):
                    continue
                body = exchange.new_body(response)
                # Each socket read waits at most until the deadline; checking it between chunks
                # also stops an upstream that trickles a byte at a time.
                for chunk in response.stream:  # type: ignore[union-attr]
                    if body.feed(chunk):
                        break
                    exchange.remaining()
                return exchange.result(response, body)
            finally:
                response.close()
