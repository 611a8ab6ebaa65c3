"""The asyncio network stream under httpcore2, on asyncio and on uvloop (the workers' loop).

The rest of the outbound tests run on pytest's asyncio loop only; uvloop's transports differ
(they are not asyncio.Transport subclasses, they read and write in C), so each case here runs
on both.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpcore2
import pytest
import uvloop

from core import outbound
from core.outbound import OutboundOptions
from core.outbound.streams import AsyncioBackend

BODY = bytes(range(256)) * 12 * 1024  # 3 MiB: reading pauses and resumes many times
LOOPS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


@pytest.fixture
def peer() -> Iterator[tuple[int, threading.Event, list[int]]]:
    """A loopback HTTP/1.1 server answering every request on a connection with BODY, which
    hangs up every open connection when told to; it records each connection's client port."""
    listener = socket.create_server(("127.0.0.1", 0))
    hang_up = threading.Event()
    clients: list[int] = []

    def answer(connection: socket.socket) -> None:
        pending = b""
        while not hang_up.is_set():
            connection.settimeout(0.05)
            try:
                data = connection.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            pending += data
            while b"\r\n\r\n" in pending:
                _, pending = pending.split(b"\r\n\r\n", 1)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
                connection.sendall(head + BODY)
        connection.close()

    def serve() -> None:
        while True:
            try:
                connection, address = listener.accept()
            except OSError:
                return
            clients.append(address[1])
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], hang_up, clients
    hang_up.set()
    listener.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_it_reads_a_large_body_and_reuses_the_connection(loop, peer):
    port, _, clients = peer
    options = OutboundOptions(allow_private=True, max_response_bytes=len(BODY), total_timeout=10)

    async def main() -> list[bytes]:
        try:
            return [
                (
                    await outbound.arequest("GET", f"http://127.0.0.1:{port}/{n}", options=options)
                ).content
                for n in range(2)
            ]
        finally:
            await outbound.aclose_pools()

    bodies = LOOPS[loop](main())

    assert bodies == [BODY, BODY]
    assert len(clients) == 1


@pytest.mark.parametrize("loop", LOOPS)
def test_an_idle_stream_becomes_readable_when_the_peer_hangs_up(loop, peer):
    port, hang_up, _ = peer

    async def main() -> tuple[bool, type[Exception] | None, bool, bytes]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            idle = stream.get_extra_info("is_readable")
            timed_out = None
            try:
                await stream.read(1024, timeout=0.05)
            except httpcore2.ReadTimeout as exc:
                timed_out = type(exc)
            hang_up.set()
            deadline = time.monotonic() + 5
            while not stream.get_extra_info("is_readable") and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return idle, timed_out, stream.get_extra_info("is_readable"), await stream.read(10)
        finally:
            await stream.aclose()

    idle, timed_out, readable, end = LOOPS[loop](main())

    assert idle is False
    assert timed_out is httpcore2.ReadTimeout
    assert readable is True
    assert end == b""


@pytest.mark.parametrize("loop", LOOPS)
def test_a_closed_stream_refuses_reads_and_writes(loop, peer):
    port, _, _ = peer

    async def main() -> list[type[Exception]]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await stream.aclose()
        raised: list[type[Exception]] = []
        for operation in (stream.read(10, timeout=1), stream.write(b"GET", timeout=1)):
            try:
                await operation
            except httpcore2.NetworkError as exc:
                raised.append(type(exc))
        return raised

    assert LOOPS[loop](main()) == [httpcore2.ReadError, httpcore2.WriteError]
