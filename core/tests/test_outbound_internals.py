"""What core/outbound/transport.py relies on inside httpcore2 and httpx2, checked by name.

The transport subclasses httpcore2's private AnyIO stream, calls its private
`is_socket_readable`, and hands httpx2's transport a pool through the private `_pool` it
forwards to. None of that is covered by semantic versioning, so the versions are pinned in
constraints.txt and each name is checked here: an upgrade that moves one fails in this file,
saying which name and where it is used, instead of misbehaving at run time.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpcore2
import httpx2
import pytest
from httpcore2._async.http11 import AsyncHTTP11Connection
from httpcore2._backends.anyio import AnyIOStream
from httpcore2._sync.http11 import HTTP11Connection
from httpcore2._utils import is_socket_readable

from core.outbound.transport import PooledStream

REPO = Path(__file__).resolve().parents[2]
WHERE = "core/outbound/transport.py"


def pinned_version(package: str) -> str:
    constraints = (REPO / "constraints.txt").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)\s*$", constraints, re.MULTILINE | re.I)
    assert found, f"{package} is not pinned in constraints.txt; {WHERE} relies on its internals."
    return found.group(1)


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize("package", ["httpcore2", "httpx2"])
def test_the_installed_version_is_the_pinned_one(package):
    installed = importlib.metadata.version(package)
    pinned = pinned_version(package)

    assert installed == pinned, (
        f"{package} {installed} is installed but constraints.txt pins {pinned}. {WHERE} "
        f"relies on {package} internals that this file checks for the pinned version only: "
        "install the pin, or move it together with whatever these checks then report."
    )


def _project_sources() -> list[Path]:
    """The project's own Python files: tracked by git, or new and not ignored (no venvs, caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def test_only_the_transport_imports_private_http_modules():
    private_import = re.compile(r"^\s*(from|import)\s+(httpcore2|httpx2)\._", re.MULTILINE)
    importers = sorted(
        str(path.relative_to(REPO))
        for path in _project_sources()
        if path != Path(__file__).resolve()
        and private_import.search(path.read_text(errors="replace"))
    )

    assert importers == [WHERE], (
        f"Private httpcore2/httpx2 modules are imported by {importers}; keep them in {WHERE}, "
        "where this file pins them."
    )


def test_anyio_stream_is_built_from_the_wrapped_anyio_stream():
    # PooledStream.__init__ calls AnyIOStream.__init__(stream._stream).
    assert parameters(AnyIOStream.__init__) == ["self", "stream"], (
        f"httpcore2._backends.anyio.AnyIOStream.__init__ is now "
        f"{inspect.signature(AnyIOStream.__init__)}; PooledStream.__init__ in {WHERE} passes "
        "it the wrapped anyio stream positionally."
    )


def test_anyio_stream_start_tls_and_get_extra_info_keep_their_signatures():
    start_tls = parameters(AnyIOStream.start_tls)
    extra_info = parameters(AnyIOStream.get_extra_info)

    assert start_tls == ["self", "ssl_context", "server_hostname", "timeout"], (
        f"httpcore2 AnyIOStream.start_tls is now {inspect.signature(AnyIOStream.start_tls)}; "
        f"PooledStream.start_tls in {WHERE} overrides it with the old parameters."
    )
    assert extra_info == ["self", "info"], (
        f"httpcore2 AnyIOStream.get_extra_info is now "
        f"{inspect.signature(AnyIOStream.get_extra_info)}; PooledStream.get_extra_info in "
        f"{WHERE} overrides it."
    )


def test_is_socket_readable_takes_one_socket():
    assert callable(is_socket_readable), (
        f"httpcore2._utils.is_socket_readable is gone; PooledStream in {WHERE} calls it."
    )
    assert parameters(is_socket_readable) == ["sock"], (
        f"httpcore2._utils.is_socket_readable is now {inspect.signature(is_socket_readable)}; "
        f"PooledStream.get_extra_info in {WHERE} calls it with the raw socket."
    )


def test_the_connection_pool_polls_is_readable_through_get_extra_info():
    # PooledStream exists to make this poll cheap; if the pool stops asking, it is dead code.
    for connection in (AsyncHTTP11Connection, HTTP11Connection):
        source = inspect.getsource(connection.has_expired)
        assert "get_extra_info" in source and '"is_readable"' in source, (
            f"httpcore2 {connection.__qualname__}.has_expired no longer asks its stream "
            f'get_extra_info("is_readable"); PooledStream in {WHERE} answers that question.'
        )


@pytest.mark.parametrize("pool", [httpcore2.AsyncConnectionPool, httpcore2.ConnectionPool])
def test_connection_pools_accept_a_network_backend_and_the_limits(pool):
    wanted = {
        "ssl_context",
        "network_backend",
        "max_connections",
        "max_keepalive_connections",
        "keepalive_expiry",
    }

    missing = wanted - set(parameters(pool.__init__))

    assert not missing, (
        f"httpcore2.{pool.__name__} no longer accepts {sorted(missing)}; "
        f"GuardedAsyncTransport/GuardedSyncTransport in {WHERE} pass them."
    )


@pytest.mark.parametrize(
    ("transport", "method"),
    [
        (httpx2.AsyncHTTPTransport, "handle_async_request"),
        (httpx2.AsyncHTTPTransport, "aclose"),
        (httpx2.HTTPTransport, "handle_request"),
        (httpx2.HTTPTransport, "close"),
    ],
)
def test_httpx2_transports_forward_to_their_private_pool(transport, method):
    # The guarded transports skip httpx2's __init__ and set `_pool` themselves.
    source = inspect.getsource(getattr(transport, method))

    assert "self._pool." in source, (
        f"httpx2.{transport.__name__}.{method} no longer goes through self._pool; the guarded "
        f"transports in {WHERE} install their pool there."
    )


@pytest.fixture
def loopback_peer() -> Iterator[tuple[int, threading.Event]]:
    """A TCP listener on loopback that closes its side of the connection when told to."""
    listener = socket.create_server(("127.0.0.1", 0))
    hang_up = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        hang_up.wait(10)
        connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], hang_up
    hang_up.set()
    thread.join(5)
    listener.close()


def test_a_real_anyio_stream_has_the_attributes_the_pooled_stream_reads(loopback_peer):
    port, hang_up = loopback_peer

    async def main() -> tuple[object, object, int, bool, bool]:
        stream = await httpcore2.AnyIOBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            assert isinstance(stream, AnyIOStream), (
                f"httpcore2.AnyIOBackend.connect_tcp now returns {type(stream).__name__}, not "
                f"AnyIOStream; {WHERE} wraps only AnyIOStream in PooledStream."
            )
            assert hasattr(stream, "_stream"), (
                f"httpcore2 AnyIOStream no longer keeps its anyio stream in `_stream`; "
                f"PooledStream.__init__ in {WHERE} reads it."
            )
            pooled = PooledStream(stream)
            idle = pooled.get_extra_info("is_readable")
            hang_up.set()
            deadline = time.monotonic() + 5
            while not pooled.get_extra_info("is_readable") and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            closed = pooled.get_extra_info("is_readable")
            raw = stream.get_extra_info("socket")
            fileno = raw.fileno() if hasattr(raw, "fileno") else -1
            return raw, pooled.get_extra_info("socket"), fileno, idle, closed
        finally:
            await stream.aclose()

    raw, pooled_raw, fileno, idle, closed = asyncio.run(main())

    # Under asyncio the raw socket is a TransportSocket; what matters is a live descriptor.
    assert fileno >= 0, (
        f'httpcore2 AnyIOStream.get_extra_info("socket") returned {raw!r}, not the raw '
        f"socket; PooledStream in {WHERE} looks it up once and polls it."
    )
    assert pooled_raw is raw
    assert idle is False
    assert closed is True
