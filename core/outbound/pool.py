"""The async connection pool: httpcore2's HTTP/1.1 connections, kept per origin.

httpcore2's `AsyncConnectionPool` takes an anyio lock and opens shielded cancel scopes on every
request and every response close, and walks all its connections each time; for one upstream
call that was a large part of the CPU. This pool keeps what it does (a cap on open connections,
idle connections kept for reuse up to their keep-alive expiry, a cap on idle ones, a pool
timeout) with plain asyncio: one event loop owns it, so its bookkeeping between awaits needs no
lock. The HTTP/1.1 framing is `connection.Http11Connection`'s (requests as h11 frames them,
answers parsed by httptools), on our stream.

Waiting is first come, first served: when the pool is full, a request waits in line; a
connection or a slot freed is handed to the oldest waiter, and a new request joins the end of
the line while anyone is waiting, so a busy origin cannot starve another one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

import httpcore2

from core.outbound.connection import Http11Connection, OriginKey, Request, Response, ResponseBody

# A waiter is handed either a connection of its origin or a free slot (None) to open one in.
_Handover = asyncio.Future["Http11Connection | None"]


class _Waiter:
    __slots__ = ("future", "origin")

    def __init__(self, origin: OriginKey, future: _Handover) -> None:
        self.origin = origin
        self.future = future


class AsyncPool:
    """HTTP/1.1 connections per origin for one event loop; see the module docstring."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore2.AsyncNetworkBackend,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry: float,
    ) -> None:
        ssl_context.set_alpn_protocols(["http/1.1"])  # what httpcore2 offers without HTTP/2
        self._ssl_context = ssl_context
        self._backend = network_backend
        self._max_connections = max_connections
        self._max_idle = max_keepalive_connections
        self._keepalive_expiry = keepalive_expiry
        # Idle connections per origin, the most recently used last; `_idle_order` holds the same
        # connections, least recently idle first, with the time their keep-alive ends, for the
        # idle cap, evictions and expiry.
        self._idle: dict[OriginKey, list[Http11Connection]] = {}
        self._idle_order: dict[Http11Connection, float] = {}
        # Slots taken: connections open (idle or in use) and connections being opened.
        self._taken = 0
        # Every open connection, with its origin (httpcore2 keeps a connection's own private).
        self._open: dict[Http11Connection, OriginKey] = {}
        self._waiters: deque[_Waiter] = deque()
        self._closing: set[asyncio.Task[None]] = set()
        # Set by `aclose`: requests still in flight then get an error, never a connection.
        self._closed = False

    @property
    def connections(self) -> list[Http11Connection]:
        return list(self._open)

    async def handle_async_request(self, request: Request) -> Response:
        if self._closed:
            raise httpcore2.ConnectError("The connection pool is closed.")
        timeouts = request.timeouts
        origin = request.origin
        key = request.key
        connection = self._take_idle(key) if not self._waiters else None
        if connection is None and (self._waiters or not self._take_slot()):
            connection = await self._wait(key, timeouts.get("pool"))
        if connection is None:
            connection = await self._connect(origin, key, timeouts.get("connect"))
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            # The connection closed itself unless the exchange got as far as reusable.
            self._release(connection)
            raise
        response.stream = PooledStream(self, connection, response.stream)
        return response

    # --- Taking a connection or a slot -------------------------------------------------------

    def _take_idle(self, origin: OriginKey) -> Http11Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            del self._idle_order[connection]
            if not idle:
                del self._idle[origin]  # no key left behind per origin ever called
            if not connection.has_expired():  # keep-alive expiry, or readable: the peer closed
                return connection
            self._discard(connection)
        return None

    def _take_slot(self) -> bool:
        if self._taken < self._max_connections:
            self._taken += 1
            return True
        if self._idle_order:
            # Full, but some connection sits idle (another origin's): its slot is ours.
            oldest = next(iter(self._idle_order))
            self._unidle(oldest)
            self._close(oldest)
            return True
        return False

    async def _wait(self, origin: OriginKey, timeout: float | None) -> Http11Connection | None:
        future: _Handover = asyncio.get_running_loop().create_future()
        waiter = _Waiter(origin, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except BaseException as exc:
            if future.done() and not future.cancelled() and future.exception() is None:
                # Handed something just as the wait ended: pass it on, the slot is not lost.
                given = future.result()
                if given is None:
                    self._free_slot()
                else:
                    self._release(given)
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise httpcore2.PoolTimeout("No connection became free in time.") from None
            raise

    async def _connect(
        self, origin: httpcore2.Origin, key: OriginKey, timeout: float | None
    ) -> Http11Connection:
        # The slot is taken; a failure to connect gives it back.
        try:
            stream = await self._backend.connect_tcp(
                host=origin.host.decode("ascii"),
                port=origin.port,
                timeout=timeout,
                local_address=None,
                socket_options=None,
            )
            if origin.scheme == b"https":
                try:
                    stream = await stream.start_tls(
                        ssl_context=self._ssl_context,
                        server_hostname=origin.host.decode("ascii"),
                        timeout=timeout,
                    )
                except BaseException:
                    await asyncio.shield(stream.aclose())
                    raise
        except BaseException:
            self._free_slot()
            raise
        if self._closed:  # closed while connecting: the new connection is nobody's
            await asyncio.shield(stream.aclose())
            raise httpcore2.ConnectError("The connection pool is closed.")
        connection = Http11Connection(origin, stream, self._keepalive_expiry)
        self._open[connection] = key
        return connection

    # --- Giving back ---------------------------------------------------------------------------

    def _release(self, connection: Http11Connection) -> None:
        """A request is done with `connection`: reuse it, hand it on, or free its slot."""
        if connection not in self._open:
            return  # closed with the pool
        if not connection.is_idle():
            self._discard(connection)
            return
        origin = self._open[connection]
        self._drop_given_up_waiters()
        if self._waiters:
            oldest = self._waiters.popleft()
            if oldest.origin == origin and not connection.has_expired():
                oldest.future.set_result(connection)
            else:
                # The oldest waiter wants another origin, or this connection went stale (the
                # peer closed it): its slot is the waiter's turn to open one.
                self._close(connection)
                oldest.future.set_result(None)
            return
        now = time.monotonic()
        self._idle.setdefault(origin, []).append(connection)
        self._idle_order[connection] = now + self._keepalive_expiry
        # Over the cap, or past their keep-alive (whatever their origin, as httpcore2's pool
        # does): the least recently idle go first.
        while self._idle_order:
            least_recent, expires = next(iter(self._idle_order.items()))
            if len(self._idle_order) <= self._max_idle and expires >= now:
                break
            self._unidle(least_recent)
            self._discard(least_recent)

    def _discard(self, connection: Http11Connection) -> None:
        self._close(connection)
        self._free_slot()

    def _free_slot(self) -> None:
        if self._closed:
            return  # the count ended with the pool
        self._drop_given_up_waiters()
        if self._waiters:
            self._waiters.popleft().future.set_result(None)
        else:
            self._taken -= 1

    def _drop_given_up_waiters(self) -> None:
        # A waiter whose wait was cancelled or timed out is still in line until its task runs.
        while self._waiters and self._waiters[0].future.done():
            self._waiters.popleft()

    def _unidle(self, connection: Http11Connection) -> None:
        del self._idle_order[connection]
        origin = self._open[connection]
        idle = self._idle[origin]
        idle.remove(connection)
        if not idle:
            del self._idle[origin]

    def _close(self, connection: Http11Connection) -> None:
        """Forget `connection` and close it (its slot is the caller's to pass on or free)."""
        del self._open[connection]
        if not connection.is_closed() and not connection.close_now():
            # Bookkeeping stays synchronous; a close that must wait runs on the loop after.
            task = asyncio.get_running_loop().create_task(connection.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every connection (shutdown and tests); requests in flight fail with a connect
        error, and a request waiting for a connection is told so (not cancelled: nobody
        cancelled its task)."""
        self._closed = True
        for connection in list(self._open):
            await connection.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        self._open.clear()
        self._idle.clear()
        self._idle_order.clear()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(
                    httpcore2.ConnectError("The connection pool is closed.")
                )
        self._waiters.clear()
        self._taken = 0


class PooledStream:
    """The response body; closing it gives the connection back to the pool, once.

    `close` does it without an await, so a caller ending the exchange in a `finally` needs no
    shield against a cancellation: a complete exchange leaves the connection idle (kept or
    handed on), an incomplete one is discarded and closed by a task of the pool's."""

    __slots__ = ("_connection", "_inner", "_pool", "_released")

    def __init__(self, pool: AsyncPool, connection: Http11Connection, inner: ResponseBody) -> None:
        self._pool = pool
        self._connection = connection
        self._inner = inner
        self._released = False

    def __aiter__(self) -> ResponseBody:
        return self._inner

    def close(self) -> None:
        if not self._released:
            self._released = True
            self._inner.close()
            self._pool._release(self._connection)

    async def aclose(self) -> None:
        self.close()
