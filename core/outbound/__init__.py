"""The one way Specgate makes HTTP requests to the outside world.

Upstream API calls and spec URL fetches go through `request` / `arequest`. The package has
seven parts, each with one concern:

- `guard`: which addresses may be contacted. Hosts that resolve to loopback, private,
  link-local, metadata, CGNAT, multicast or otherwise non-public addresses are refused when
  the socket is opened (so a DNS answer that changes between a check and the connect cannot
  slip through) and again on every redirect.
- `transport`: the network backends that apply the guard at connect time, and the connection
  pools (per event loop, per process, per address policy). The only module that touches
  httpx2's private internals (the pool the sync httpx2 transport forwards to).
- `pool`: the async connection pool, per origin, first come first served.
- `connection`: the async pool's HTTP/1.1 connections: requests framed as h11 frames them,
  answers parsed by httptools (llhttp), with less per request than httpcore2's
  `AsyncHTTP11Connection`, and the request and response they exchange.
- `wire`: the request as httpx2 would send it (URL parts, header order and framing) and the
  response headers as httpx2 would read them, built without httpx2's objects, for the async
  driver, which hands them to `pool` as `connection.Request`s directly.
- `streams`: the async connections themselves, httpcore2's network stream on a plain asyncio
  protocol (no anyio layer per read and write).
- `exchange`: one logical request: URL checks, redirects, the body's byte cap, the total
  deadline, and the translation of every failure into one `OutboundError` whose message names
  at most the origin.

No Django here: the caller passes `OutboundOptions`.
"""

from core.outbound.exchange import (
    ErrorKind,
    HeadersInput,
    OnTooLarge,
    OutboundError,
    OutboundOptions,
    OutboundResponse,
    RequestExtras,
    arequest,
    request,
)
from core.outbound.guard import is_public_address
from core.outbound.transport import aclose_pools, close_pools

__all__ = [
    "ErrorKind",
    "HeadersInput",
    "OnTooLarge",
    "OutboundError",
    "OutboundOptions",
    "OutboundResponse",
    "RequestExtras",
    "aclose_pools",
    "arequest",
    "close_pools",
    "is_public_address",
    "request",
]
