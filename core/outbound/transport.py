"""Network backends that connect only to vetted addresses, and the pools built on them.

The only module that reaches into httpx2's private parts: the `_pool` the sync httpx2
transport forwards to. `core/tests/test_outbound_internals.py` pins the installed version to
constraints.txt and checks that name, so an upgrade that moves it fails there, saying which,
rather than here at run time. Async callers use our own pool (`pool.AsyncPool`, over
httpcore2's HTTP/1.1 connections; the exchange builds httpcore2's requests itself, see `wire`);
async connections are `streams.AsyncioStream`s.

Connections are pooled: one pool per event loop for async callers, one per process for sync
callers, and separate pools per address policy so a connection opened under a lenient policy is
never reused under a strict one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
import time
import weakref
from contextvars import ContextVar
from typing import Any

import anyio
import httpcore2
import httpx2

from core.outbound.guard import AddressBlocked, Guard
from core.outbound.pool import AsyncPool
from core.outbound.streams import AsyncioBackend


class UnresolvableHost(httpcore2.ConnectError):
    pass


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


# --- Async ------------------------------------------------------------------------------------


class GuardedAsyncBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> httpcore2.AsyncNetworkStream:
        # args/kwargs: httpcore2's local_address and socket_options, passed through as given.
        if self._guard.allow_private:
            return await self._inner.connect_tcp(host, port, timeout, *args, **kwargs)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                resolved = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout("name resolution timed out") from exc
        except OSError as exc:
            raise UnresolvableHost(host) from exc
        last_error: Exception | None = None
        for address in self._guard.vetted_addresses(resolved):
            try:
                return await self._inner.connect_tcp(
                    address, port, _remaining(deadline), *args, **kwargs
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vetted_addresses never returns an empty list
        raise last_error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise AddressBlocked

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# --- Sync -------------------------------------------------------------------------------------

# Sync code has no cancel scope to bound a whole exchange, so the sync driver publishes its
# deadline here and every socket operation waits at most until then.
sync_deadline: ContextVar[float | None] = ContextVar("outbound_sync_deadline", default=None)


def _until_sync_deadline(timeout: float | None) -> float | None:
    deadline = sync_deadline.get()
    if deadline is None:
        return timeout
    # Never 0: a zero socket timeout means non-blocking, not "already expired".
    left = max(deadline - time.monotonic(), 0.001)
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore2.NetworkStream):
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
        return DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedSyncBackend(httpcore2.NetworkBackend):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> httpcore2.NetworkStream:
        # args/kwargs: httpcore2's local_address and socket_options, passed through as given.
        timeout = _until_sync_deadline(timeout)
        if self._guard.allow_private:
            stream = self._inner.connect_tcp(host, port, timeout, *args, **kwargs)
            return DeadlineStream(stream)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UnresolvableHost(host) from exc
        last_error: Exception | None = None
        for address in self._guard.vetted_addresses(resolved):
            try:
                stream = self._inner.connect_tcp(
                    address, port, _remaining(deadline), *args, **kwargs
                )
                return DeadlineStream(stream)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vetted_addresses never returns an empty list
        raise last_error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        raise AddressBlocked


# --- Transports and their pools -------------------------------------------------------------

POOL_LIMITS: dict[str, Any] = {
    "max_connections": 200,
    "max_keepalive_connections": 50,
    "keepalive_expiry": 30.0,
}


def ssl_context(extra_ca_file: str | None) -> ssl.SSLContext:
    """The default TLS verification, plus one more trusted CA when a test names one."""
    context = httpx2.create_ssl_context(trust_env=False)
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


def guarded_async_pool(guard: Guard, extra_ca_file: str | None = None) -> AsyncPool:
    return AsyncPool(
        ssl_context=ssl_context(extra_ca_file),
        network_backend=GuardedAsyncBackend(guard),
        **POOL_LIMITS,
    )


class GuardedSyncTransport(httpx2.HTTPTransport):
    # httpx2's transport takes no network backend, so build its pool ourselves; the rest of
    # the transport (request/response mapping, error mapping) is reused unchanged.
    def __init__(self, guard: Guard, extra_ca_file: str | None = None) -> None:
        self._pool = httpcore2.ConnectionPool(
            ssl_context=ssl_context(extra_ca_file),
            network_backend=GuardedSyncBackend(guard),
            **POOL_LIMITS,
        )


# One pool per address policy and trusted-CA set: a connection verified against a test CA is
# never handed to a caller that does not trust it.
PoolKey = tuple[Guard, str | None]

_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PoolKey, AsyncPool]] = (
    weakref.WeakKeyDictionary()
)
_sync_transports: dict[tuple[int, PoolKey], GuardedSyncTransport] = {}
_sync_lock = threading.Lock()


def async_pool(guard: Guard, extra_ca_file: str | None = None) -> AsyncPool:
    per_loop = _async_pools.setdefault(asyncio.get_running_loop(), {})
    key = (guard, extra_ca_file)
    if key not in per_loop:
        per_loop[key] = guarded_async_pool(guard, extra_ca_file)
    return per_loop[key]


def sync_transport(guard: Guard, extra_ca_file: str | None = None) -> GuardedSyncTransport:
    # Keyed by process id: a forked worker must not share its parent's sockets.
    key = (os.getpid(), (guard, extra_ca_file))
    with _sync_lock:
        if key not in _sync_transports:
            _sync_transports[key] = GuardedSyncTransport(guard, extra_ca_file)
        return _sync_transports[key]


async def aclose_pools() -> None:
    """Close the current event loop's pooled connections (for shutdown and tests)."""
    for pool in _async_pools.pop(asyncio.get_running_loop(), {}).values():
        await pool.aclose()


def close_pools() -> None:
    """Close this process's pooled sync connections (for shutdown and tests)."""
    with _sync_lock:
        transports = list(_sync_transports.values())
        _sync_transports.clear()
    for transport in transports:
        transport.close()
