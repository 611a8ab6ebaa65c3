"""What core/outbound relies on inside httpcore2 and httpx2, checked by name.

The transport hands httpx2's sync transport a pool through the private `_pool` it forwards to
(the async pool's connections, core/outbound/connection.py, use httptools' public API), and the
asyncio stream (core/outbound/streams.py) answers the connections' `is_readable`
question. None of that is covered by semantic versioning, so the versions are pinned in
constraints.txt and each name is checked here: an upgrade that moves one fails in this file,
saying which name and where it is used, instead of misbehaving at run time.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import subprocess
from pathlib import Path

import httpcore2
import httpx2
import pytest
from httpcore2._sync.http11 import HTTP11Connection

from core.outbound.connection import Http11Connection

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

    assert importers in ([], [WHERE]), (
        f"Private httpcore2/httpx2 modules are imported by {importers}; keep them in {WHERE}, "
        "where this file pins them."
    )


def test_the_connection_pool_polls_is_readable_through_get_extra_info():
    # AsyncioStream answers this poll from its buffer first; if the connections stop asking,
    # that branch of core/outbound/streams.py is dead code. The async pool's connections are
    # ours (core/outbound/connection.py), the sync driver's are httpcore2's.
    for connection in (Http11Connection, HTTP11Connection):
        source = inspect.getsource(connection.has_expired)
        assert "get_extra_info" in source and '"is_readable"' in source, (
            f"{connection.__qualname__}.has_expired no longer asks its stream "
            f'get_extra_info("is_readable"); AsyncioStream in core/outbound/streams.py answers '
            "that question."
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
        f"guarded_async_pool/GuardedSyncTransport in {WHERE} pass them."
    )


@pytest.mark.parametrize(
    ("transport", "method"),
    [
        (httpx2.HTTPTransport, "handle_request"),
        (httpx2.HTTPTransport, "close"),
    ],
)
def test_httpx2_transports_forward_to_their_private_pool(transport, method):
    # The guarded sync transport skips httpx2's __init__ and sets `_pool` itself.
    source = inspect.getsource(getattr(transport, method))

    assert "self._pool." in source, (
        f"httpx2.{transport.__name__}.{method} no longer goes through self._pool; the guarded "
        f"transport in {WHERE} installs its pool there."
    )
