"""The request as httpx2 would put it on the wire, built without httpx2's per-call objects.

The async driver hands its pool (`core.outbound.pool`) the request's parts directly. Building an
httpx2 `URL`, `Request`, `Headers` and `Response` for every call, only for httpx2's transport to
turn them back into httpcore2's, was a large part of an upstream call's CPU. What goes out must not
change, so this module reproduces, for the requests Specgate makes (string headers, a bytes or
str body), what httpx2 does: the URL's normalisation, the `Host` and `Content-Length` headers
and their order, ASCII header encoding, and the decoding of response headers.

URLs are parsed by httpx2 unless they are of the plain shape httpx2 leaves unchanged (lower-case
ASCII host, no user info, no default port spelled out, nothing to percent-encode, no dot
segments, no fragment); only those are split here. core/tests/test_outbound_wire.py checks the
parts and the bytes against httpx2's for both kinds.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import httpx2

from core.outbound.guard import literal_ip

_PLAIN_ORIGIN = re.compile(r"(https?)://([a-z0-9.\-]+)(?::([1-9][0-9]{0,4}))?")
# Characters httpx2 leaves as they are in a path and in a query string (printable ASCII minus
# its percent-encode sets; a '%' is kept whether or not it starts an escape).
_PLAIN_PATH = re.compile(r"/[!$-;=@-_a-z|~]*(?:\?[!$-;=?-~]*)?")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_LENGTH = 65536  # httpx2's limit; longer URLs go to httpx2, which refuses them
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "QUERY"})
# Upstream origins are few and called again and again: each plain one is split and checked once.
_ORIGINS_KEPT = 1024


def origin_text(scheme: str, host: str, port: int | None) -> str:
    """`scheme://host[:port]` for messages: never the user info a netloc could carry."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port is None else f"{scheme}://{shown}:{port}"


@dataclass(frozen=True, slots=True)
class Target:
    """An absolute URL's parts, as httpx2's `URL` gives them."""

    scheme: str
    # For messages and the address guard: IDNA names decoded, IPv6 without brackets (`URL.host`).
    host: str
    # The scheme's default port is None, as in httpx2.
    port: int | None
    # What the connection and the request line use (`raw_host`, `netloc`, `raw_path`).
    raw_host: bytes
    netloc: bytes
    raw_path: bytes
    # The URL as `str(httpx2.URL(...))` would print it, and its origin as `origin_text` does.
    text: str
    origin: str
    # The httpx2 URL these parts came from, when httpx2 parsed it.
    parsed: httpx2.URL | None = field(default=None, compare=False)

    def as_httpx(self) -> httpx2.URL:
        return httpx2.URL(self.text) if self.parsed is None else self.parsed


def parse_target(url: str, params: Any = None) -> Target:
    """The parts of `url` (with `params` merged into its query), exactly as httpx2 parses them.

    Raises httpx2.InvalidURL, TypeError or ValueError where httpx2 does.
    """
    if params is None and len(url) <= _MAX_URL_LENGTH:
        plain = _plain_target(url)
        if plain is not None:
            return plain
    parsed = httpx2.URL(url)
    if params is not None:
        parsed = parsed.copy_merge_params(params)
    return target_of(parsed)


def target_of(url: httpx2.URL) -> Target:
    return Target(
        scheme=url.scheme,
        host=url.host,
        port=url.port,
        raw_host=url.raw_host,
        netloc=url.netloc,
        raw_path=url.raw_path,
        text=str(url),
        origin=origin_text(url.scheme, url.host, url.port),
        parsed=url,
    )


@dataclass(frozen=True, slots=True)
class _PlainOrigin:
    scheme: str
    host: str
    port: int | None
    raw_host: bytes
    netloc: bytes
    origin: str


def _plain_target(url: str) -> Target | None:
    path_at = url.find("/", url.find("//") + 2) if "//" in url else -1
    if path_at < 0:
        return None
    authority = url[:path_at]
    origin = _plain_origin(authority)
    if origin is None or not _PLAIN_PATH.fullmatch(url, path_at) or "/." in url[path_at:]:
        return None  # dot segments to remove, characters to escape: httpx2's work
    return Target(
        scheme=origin.scheme,
        host=origin.host,
        port=origin.port,
        raw_host=origin.raw_host,
        netloc=origin.netloc,
        raw_path=url[path_at:].encode("ascii"),
        text=url,
        origin=origin.origin,
    )


# The authority part of a URL ("http://host:port") -> its parts, or None when it is not plain.
# Cached per authority, bounded, and safe to share between the sync driver's threads (a dict
# evicted by hand let two threads evict the same key, and the second raised KeyError).
@functools.lru_cache(maxsize=_ORIGINS_KEPT)
def _plain_origin(authority: str) -> _PlainOrigin | None:
    match = _PLAIN_ORIGIN.fullmatch(authority)
    if match is None:
        return None
    scheme, host, port_text = match.groups()
    if "xn--" in host:
        return None  # an IDNA name, which httpx2 decodes for display
    if _IPV4_STYLE.fullmatch(host) and literal_ip(host) is None:
        return None  # httpx2 refuses it, with its own message
    port = None if port_text is None else int(port_text)
    if port == _DEFAULT_PORTS[scheme]:
        return None  # httpx2 drops it from the URL's text
    netloc = host if port_text is None else f"{host}:{port_text}"
    return _PlainOrigin(
        scheme=scheme,
        host=host,
        port=port,
        raw_host=host.encode("ascii"),
        netloc=netloc.encode("ascii"),
        origin=origin_text(scheme, host, port),
    )


def _header_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        raise TypeError(f"Header value must be str or bytes, not {type(text)}")
    return text.encode("ascii")


def request_headers(
    method: str, target: Target, headers: list[tuple[str, str]], body: bytes
) -> list[tuple[bytes, bytes]]:
    """The request's header lines in httpx2's order: `Host` (and `Content-Length: 0` for a
    bodiless POST/PUT/PATCH/QUERY) first unless given, then the given ones, then the body's
    `Content-Length` unless a length or a transfer coding was given."""
    given = [
        (
            name.encode("ascii") if name.__class__ is str else _header_bytes(name),
            value.encode("ascii") if value.__class__ is str else _header_bytes(value),
        )
        for name, value in headers
    ]
    names = {name.lower() for name, _ in given}
    framed = b"content-length" in names or b"transfer-encoding" in names
    if body and not framed:
        given.append((b"Content-Length", str(len(body)).encode("ascii")))
        framed = True
    first: list[tuple[bytes, bytes]] = []
    if b"host" not in names:
        first.append((b"Host", target.netloc))
    if not framed and method in _METHODS_WITH_BODY:
        first.append((b"Content-Length", b"0"))
    return first + given if first else given


class ResponseHeaders:
    """A response's header lines read as httpx2's `Headers` reads them: names lower-cased, all
    lines decoded as ASCII, else UTF-8, else ISO-8859-1, and repeated names joined by `get`."""

    __slots__ = ("_items", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._items: list[tuple[str, str]] | None = None

    def multi_items(self) -> list[tuple[str, str]]:
        if self._items is None:
            encoding = _header_encoding(self._raw)
            self._items = [
                (name.lower().decode(encoding), value.decode(encoding)) for name, value in self._raw
            ]
        return self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        values = [value for key, value in self.multi_items() if key == name]
        return ", ".join(values) if values else default


def _header_encoding(raw: list[tuple[bytes, bytes]]) -> str:
    for encoding in ("ascii", "utf-8"):
        try:
            for name, value in raw:
                name.decode(encoding)
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "iso-8859-1"
