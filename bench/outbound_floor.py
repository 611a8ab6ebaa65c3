"""The floor under one upstream call: instructions per GET of a minimal HTTP/1.1 client.

    python bench/outbound_floor.py [--calls 300] [--warmup 100]

The same measurement as bench/outbound_profile.py (callgrind, instrumentation on only for the
measured calls, `GET /items/{n}` to bench/upstream.py on loopback, one call after another on
uvloop), but the client is the least a keep-alive HTTP/1.1 GET can cost in Python: one
connection, an `asyncio.Protocol`, the request written as one bytes object, and the response
parsed by httptools (llhttp, the parser uvicorn uses) into a status, lower-cased header
pairs and the body. It has none of what an upstream call
needs (address guard, redirects, byte cap, decoding, deadline, pooling across origins, TLS,
error translation): it is a lower bound to set `core.outbound.arequest`'s figure against, not a
client to ship. Every answer is checked (200, whole body).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Exchange(asyncio.Protocol):
    """One kept-alive connection; `get` writes a request and waits for its parsed answer."""

    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpResponseParser(self)
        self._transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self._done: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.headers: list[tuple[str, str]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc or ConnectionError("closed"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        assert self._done is not None
        self._done.set_result((self._parser.get_status_code(), b"".join(self._body)))

    async def get(self, request: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        self._body = []
        self.headers = []
        self._done = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._done


def drive(port: int, calls: int, warmup: int) -> None:
    import uvloop

    from bench.outbound_profile import measured

    async def run() -> None:
        loop = asyncio.get_running_loop()
        transport, exchange = await loop.create_connection(_Exchange, "127.0.0.1", port)

        async def one(n: int) -> None:
            request = (
                f"GET /items/{n} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Accept: application/json\r\nUser-Agent: Specgate\r\n"
                "Accept-Encoding: gzip, deflate\r\n\r\n"
            ).encode()
            status, body = await exchange.get(request)
            if status != 200 or not body:
                raise SystemExit(f"upstream call failed: {status}")

        await measured(one, calls, warmup)
        transport.close()

    uvloop.run(run())


if __name__ == "__main__":
    from bench.outbound_profile import run

    run(__file__, drive)
