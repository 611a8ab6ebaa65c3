"""httpcore2's async network stream on a plain asyncio protocol, without anyio in between.

httpcore2's stock async backend goes through anyio, which costs, on every read and write, a
cancel scope for the timeout, a checkpoint (an extra turn of the event loop), and on every read
a pause and resume of the transport's reading (two `epoll_ctl` system calls under uvloop).
That was the largest part of an upstream call's CPU. This stream keeps the transport reading,
holds what arrives in a bounded buffer, and waits on a future with a timer only when nothing is
buffered yet. The bytes on the wire are the same (core/outbound/connection.py frames the
requests as h11 does), and the connection is opened, upgraded to TLS and closed as anyio does
it (one address at a time, TCP_NODELAY, no TLS close_notify on close).
"""

from __future__ import annotations

import asyncio
import select
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import anyio
import httpcore2

# Reading pauses when this much is buffered and unread, and resumes below the low mark, so a
# fast upstream cannot grow a worker's memory past what the exchange's byte cap reads.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


def _socket_readable(sock: Any) -> bool:
    # As httpcore2 asks it: readable means a recv() would return at once (data or end of
    # stream); a socket that no longer has a descriptor counts as readable (it is finished).
    fileno = -1 if sock is None else sock.fileno()
    if fileno < 0:
        return True
    poller = select.poll()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


class _Protocol(asyncio.Protocol):
    """Buffers what the transport delivers and wakes the one reader or writer waiting."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.at_eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[bool] | None = None
        self.tls = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        # Zero: a write waits until the kernel took every byte, so its timeout means what
        # httpcore2's write timeout says (anyio's stream sets the same limit).
        self.transport.set_write_buffer_limits(0)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.reading_paused and self.transport:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.at_eof = True
        self._wake()
        # Keep the transport open for writing, as anyio does; TLS transports cannot (and warn).
        return not self.tls

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self.error = exc
        self._wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(True)

    def take(self, max_bytes: int) -> bytes:
        chunk = self.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self.chunks.appendleft(rest)
        self.buffered -= len(chunk)
        if self.reading_paused and self.buffered <= _LOW_WATER and self.transport:
            self.transport.resume_reading()
            self.reading_paused = False
        return chunk

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the next event (data, end of stream, loss, drained writes); False on timeout."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class AsyncioStream(httpcore2.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        while not protocol.chunks:
            if self._closed:
                raise httpcore2.ReadError("the connection was closed")
            if protocol.lost or protocol.at_eof:
                if protocol.error is not None:
                    raise httpcore2.ReadError(str(protocol.error)) from protocol.error
                return b""
            if not await protocol.wait(timeout):
                raise httpcore2.ReadTimeout("timed out reading from the upstream")
        return protocol.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._closed or protocol.lost:
            raise httpcore2.WriteError("the connection was closed") from protocol.error
        self._transport.write(buffer)
        while protocol.writing_paused:
            if not await protocol.wait(timeout):
                raise httpcore2.WriteTimeout("timed out writing to the upstream")
            if protocol.lost:
                raise httpcore2.WriteError("the connection was closed") from protocol.error

    async def aclose(self) -> None:
        self.abort()

    def abort(self) -> None:
        """Close at once, as `aclose` does (it never waits): no TLS close_notify, as anyio."""
        if not self._closed:
            self._closed = True
            self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_side=False,
                    server_hostname=server_hostname,
                )
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, TimeoutError):
                raise httpcore2.ConnectTimeout("timed out in the TLS handshake") from exc
            if isinstance(exc, OSError):  # ssl.SSLError included
                raise httpcore2.ConnectError(str(exc)) from exc
            raise
        tls = cast(asyncio.Transport, transport)
        self._protocol.transport = tls
        self._protocol.tls = True
        tls.set_write_buffer_limits(0)
        return AsyncioStream(tls, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            protocol = self._protocol
            if protocol.chunks or protocol.at_eof or protocol.lost:
                return True
            return _socket_readable(self._transport.get_extra_info("socket"))
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return None


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """Opens TCP connections as `AsyncioStream`s on the running asyncio loop."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol,
                    host,
                    port,
                    local_addr=None if local_address is None else (local_address, 0),
                )
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout("timed out connecting") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        raw = transport.get_extra_info("socket")
        for option in socket_options or ():
            raw.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("unix sockets are not used for upstream calls")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
