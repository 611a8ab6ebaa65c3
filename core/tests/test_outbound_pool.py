"""The async connection pool (core/outbound/pool.py) against real keep-alive servers on loopback.

The servers run on the test's own event loop and count the connections they accept, so reuse
and replacement are observed from the server's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpcore2
import pytest

from core.outbound.connection import Request
from core.outbound.guard import guard_for
from core.outbound.pool import AsyncPool
from core.outbound.transport import GuardedAsyncBackend, ssl_context

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """A keep-alive HTTP/1.1 server: answers `ok` (or, by path, hangs, closes after answering or
    sends only part of its answer)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if b" /hang " in head:
                    await asyncio.sleep(30)
                # /partial: the head and 2 bytes of a 10-byte body; the rest never comes.
                partial = b" /partial " in head
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok" if partial else OK)
                await writer.drain()
                if b" /close " in head:
                    break  # closes without saying so: the connection looks reusable
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


def make_pool(
    max_connections: int = 10,
    max_idle: int = 10,
    expiry: float = 30.0,
    backend: type[GuardedAsyncBackend] = GuardedAsyncBackend,
) -> AsyncPool:
    return AsyncPool(
        ssl_context=ssl_context(None),
        network_backend=backend(guard_for(True, ())),
        max_connections=max_connections,
        max_keepalive_connections=max_idle,
        keepalive_expiry=expiry,
    )


def request_to(port: int, path: str = "/", timeouts: dict[str, float] | None = None) -> Request:
    host = f"127.0.0.1:{port}".encode()
    return Request(
        b"GET", b"http", b"127.0.0.1", port, path.encode(), [(b"Host", host)], timeouts=timeouts
    )


async def get(pool: AsyncPool, port: int, path: str = "/", pool_timeout: float = 5.0) -> bytes:
    timeouts = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": pool_timeout}
    response = await pool.handle_async_request(request_to(port, path, timeouts))
    try:
        return b"".join([chunk async for chunk in response.stream])
    finally:
        await response.aclose()


def run(test: Callable[..., Awaitable[Any]], servers: int = 1) -> Any:
    async def main() -> Any:
        started = [await Server().start() for _ in range(servers)]
        try:
            return await test(*started)
        finally:
            for server in started:
                await server.stop()

    return asyncio.run(main())


def test_it_reuses_an_idle_connection():
    async def scenario(server: Server) -> None:
        pool = make_pool()
        assert await get(pool, server.port) == b"ok"
        assert await get(pool, server.port) == b"ok"

        assert server.connections == 1
        assert len(pool.connections) == 1
        await pool.aclose()

    run(scenario)


def test_an_idle_connection_past_its_keep_alive_expiry_is_replaced():
    async def scenario(server: Server) -> None:
        pool = make_pool(expiry=0.05)
        await get(pool, server.port)
        await asyncio.sleep(0.15)
        await get(pool, server.port)

        assert server.connections == 2
        assert len(pool.connections) == 1
        await pool.aclose()

    run(scenario)


def test_idle_connections_of_other_origins_are_closed_past_their_keep_alive():
    async def scenario(first: Server, second: Server) -> None:
        pool = make_pool(expiry=0.05)
        await get(pool, first.port)
        await asyncio.sleep(0.15)
        await get(pool, second.port)

        assert len(pool.connections) == 1  # the first origin's expired connection is gone
        await get(pool, second.port)
        assert second.connections == 1
        await pool.aclose()

    run(scenario, servers=2)


def test_an_idle_connection_the_server_closed_is_replaced_not_used():
    async def scenario(server: Server) -> None:
        pool = make_pool()
        await get(pool, server.port, "/close")
        await asyncio.sleep(0.05)  # the close reaches us: the idle socket turns readable

        assert await get(pool, server.port) == b"ok"
        assert server.connections == 2
        await pool.aclose()

    run(scenario)


def test_idle_connections_beyond_the_keep_alive_cap_are_closed():
    async def scenario(first: Server, second: Server) -> None:
        pool = make_pool(max_idle=1)
        await get(pool, first.port)
        await get(pool, second.port)

        assert len(pool.connections) == 1
        await get(pool, second.port)
        assert second.connections == 1  # the most recent one was kept
        await pool.aclose()

    run(scenario, servers=2)


def test_a_full_pool_waits_and_then_times_out_with_a_pool_timeout():
    async def scenario(server: Server) -> None:
        pool = make_pool(max_connections=1)
        hanging = asyncio.ensure_future(get(pool, server.port, "/hang"))
        await asyncio.sleep(0.1)

        with pytest.raises(httpcore2.PoolTimeout):
            await get(pool, server.port, pool_timeout=0.2)

        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging
        # The cancelled call closed its connection and gave its slot back.
        assert pool.connections == []
        assert await get(pool, server.port, pool_timeout=1.0) == b"ok"
        await pool.aclose()

    run(scenario)


def test_a_cancelled_wait_gives_up_its_place_in_line():
    async def scenario(server: Server) -> None:
        pool = make_pool(max_connections=1)
        hanging = asyncio.ensure_future(get(pool, server.port, "/hang"))
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(get(pool, server.port))
        await asyncio.sleep(0.05)
        waiting.cancel()
        hanging.cancel()
        for call in (waiting, hanging):
            with pytest.raises(asyncio.CancelledError):
                await call

        assert await get(pool, server.port, pool_timeout=1.0) == b"ok"
        assert pool.connections != [] and len(pool.connections) == 1
        await pool.aclose()

    run(scenario)


def test_a_connection_handed_to_a_waiter_cancelled_at_that_moment_is_not_lost():
    async def scenario(server: Server) -> None:
        pool = make_pool(max_connections=1)
        port = server.port
        holding = await pool.handle_async_request(request_to(port))
        waiting = asyncio.ensure_future(get(pool, port))
        await asyncio.sleep(0.05)  # in line for the only connection
        assert [chunk async for chunk in holding.stream] == [b"ok"]

        await holding.aclose()  # hands the connection to the waiter...
        waiting.cancel()  # ...which is cancelled before it could run
        with pytest.raises(asyncio.CancelledError):
            await waiting

        assert await get(pool, port, pool_timeout=0.5) == b"ok"
        assert server.connections == 1
        await pool.aclose()

    run(scenario)


def test_a_failed_connect_gives_its_slot_back():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    async def scenario(server: Server) -> None:
        pool = make_pool(max_connections=1)
        with pytest.raises(httpcore2.ConnectError):
            await get(pool, closed_port)

        assert await get(pool, server.port, pool_timeout=1.0) == b"ok"
        await pool.aclose()

    run(scenario)


def test_a_waiting_origin_is_served_while_another_keeps_the_only_slot_busy():
    # max_connections=1 and two origins: calls to the first one follow each other without a
    # pause, and the second origin's call must still get its turn, not a PoolTimeout.
    async def scenario(busy: Server, other: Server) -> None:
        pool = make_pool(max_connections=1)
        stop = asyncio.Event()

        async def hammer() -> int:
            calls = 0
            while not stop.is_set():
                await get(pool, busy.port)
                calls += 1
            return calls

        hammers = [asyncio.ensure_future(hammer()) for _ in range(3)]
        await asyncio.sleep(0.1)
        try:
            answer = await get(pool, other.port, pool_timeout=2.0)
        finally:
            stop.set()
            busy_calls = sum(await asyncio.gather(*hammers))

        assert answer == b"ok"
        assert busy_calls > 10
        await pool.aclose()

    run(scenario, servers=2)


def test_a_new_request_queues_behind_those_already_waiting():
    async def scenario(server: Server) -> None:
        pool = make_pool(max_connections=1)
        order: list[str] = []

        async def call(name: str, path: str = "/") -> None:
            await get(pool, server.port, path)
            order.append(name)

        first = asyncio.ensure_future(call("first"))
        await asyncio.sleep(0)
        waiters = []
        for name in ("second", "third"):
            waiters.append(asyncio.ensure_future(call(name)))
            await asyncio.sleep(0)
        await asyncio.gather(first, *waiters)

        assert order == ["first", "second", "third"]
        await pool.aclose()

    run(scenario)


def test_every_slot_comes_back_after_a_storm_of_cancellations_and_timeouts():
    async def scenario(*servers: Server) -> None:
        pool = make_pool(max_connections=3, max_idle=2, expiry=0.05)
        rnd = random.Random(17)

        async def one() -> None:
            call = asyncio.ensure_future(
                get(
                    pool,
                    rnd.choice(servers).port,
                    rnd.choice(["/", "/", "/close", "/hang"]),
                    pool_timeout=rnd.choice([0.01, 0.1, 1.0]),
                )
            )
            await asyncio.sleep(rnd.choice([0, 0.001, 0.01, 0.05]))
            if rnd.random() < 0.3:
                call.cancel()
            with contextlib.suppress(
                asyncio.CancelledError,
                TimeoutError,
                httpcore2.PoolTimeout,
                httpcore2.NetworkError,
                httpcore2.RemoteProtocolError,
            ):
                await asyncio.wait_for(call, 0.3)

        for _ in range(5):
            await asyncio.gather(*[one() for _ in range(30)])

        answers = await asyncio.gather(
            *[get(pool, server.port, pool_timeout=1.0) for server in servers]
        )
        assert answers == [b"ok"] * 3
        assert len(pool.connections) <= 3
        await pool.aclose()

    run(scenario, servers=3)


class _SlowConnect(GuardedAsyncBackend):
    """Connects after a pause, so the pool can be closed while a connect is under way."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kw: Any):  # type: ignore[override]
        await asyncio.sleep(0.1)
        return await super().connect_tcp(host, port, timeout, **kw)


def test_closing_the_pool_fails_requests_in_flight_and_keeps_no_connection():
    """Shutdown with calls under way: a call still connecting and a call waiting in line both
    get a connect error (not a cancellation nobody asked for), and nothing stays open."""

    async def scenario(server: Server) -> None:
        pool = make_pool(max_connections=1, backend=_SlowConnect)
        connecting = asyncio.ensure_future(get(pool, server.port))
        await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(get(pool, server.port))
        await asyncio.sleep(0.01)

        await pool.aclose()

        for call in (connecting, waiting):
            with pytest.raises(httpcore2.ConnectError, match="pool is closed"):
                await call
        assert pool.connections == []
        with pytest.raises(httpcore2.ConnectError, match="pool is closed"):
            await get(pool, server.port)
        assert pool.connections == []

    run(scenario)


async def _serve(handle: Callable[..., Awaitable[None]]) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _call(pool: AsyncPool, request: Request) -> tuple[int, bytes]:
    response = await pool.handle_async_request(request)
    try:
        return response.status, b"".join([chunk async for chunk in response.stream])
    finally:
        response.stream.close()


def test_bytes_sent_after_an_answer_are_never_read_as_the_next_requests_answer():
    # A body on a 204 (a common upstream bug) arrives with the answer; on a reused connection
    # it would be parsed as the next call's answer, which may be another caller's.
    async def scenario() -> None:
        answered = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal answered
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    await reader.readuntil(b"\r\n\r\n")
                    answered += 1
                    if answered == 1:
                        writer.write(
                            b"HTTP/1.1 204 No Content\r\n\r\n"
                            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nspoofd"
                        )
                    else:
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
                    await writer.drain()
            writer.close()

        server, port = await _serve(handle)
        pool = make_pool()
        try:
            assert await _call(pool, request_to(port, "/first")) == (204, b"")
            assert await _call(pool, request_to(port, "/second")) == (200, b"real")
            assert await _call(pool, request_to(port, "/third")) == (200, b"real")
        finally:
            await pool.aclose()
            server.close()

    asyncio.run(scenario())


def test_a_connection_whose_request_could_not_be_written_is_not_handed_on():
    # The upstream answers a large upload early and resets the connection: the answer is still
    # read (as httpcore2 does), but the connection is dead and must not go to the next caller.
    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if head.startswith(b"POST"):
                        writer.write(b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno")
                        await writer.drain()
                        await asyncio.sleep(0.05)
                        writer.transport.abort()  # the body unread: a reset
                        return
                    writer.write(OK)
                    await writer.drain()
            writer.close()

        server, port = await _serve(handle)
        pool = make_pool(max_connections=1)
        body = b"x" * (32 * 1024 * 1024)
        upload = Request(
            b"POST",
            b"http",
            b"127.0.0.1",
            port,
            b"/upload",
            [(b"Host", f"127.0.0.1:{port}".encode()), (b"Content-Length", str(len(body)).encode())],
            body,
        )
        try:
            first = asyncio.ensure_future(_call(pool, upload))
            await asyncio.sleep(0.01)
            second = asyncio.ensure_future(_call(pool, request_to(port)))  # waits its turn
            assert await first == (413, b"no")
            assert await second == (200, b"ok")
        finally:
            await pool.aclose()
            server.close()

    asyncio.run(scenario())


def test_a_waiter_is_not_handed_a_connection_the_upstream_has_closed():
    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(OK)  # a keep-alive answer, then the upstream closes at once
            await writer.drain()
            writer.close()

        server, port = await _serve(handle)
        pool = make_pool(max_connections=1)
        try:
            holding = await pool.handle_async_request(request_to(port))
            waiting = asyncio.ensure_future(_call(pool, request_to(port)))
            assert [chunk async for chunk in holding.stream] == [b"ok"]
            await asyncio.sleep(0.05)  # the close arrives while the answer is still held
            holding.stream.close()
            assert await waiting == (200, b"ok")
        finally:
            await pool.aclose()
            server.close()

    asyncio.run(scenario())


def test_a_connection_given_back_mid_answer_is_closed_at_once():
    # Closed before the caller's loop can end (no task left to run it, no unclosed transport).
    async def scenario(server: Server) -> None:
        pool = make_pool()
        response = await pool.handle_async_request(request_to(server.port, "/partial"))
        connection = pool.connections[0]
        response.stream.close()  # the rest of the body never read: the exchange is incomplete

        assert connection.is_closed()
        assert pool.connections == [] and not pool._closing
        await pool.aclose()

    run(scenario)
