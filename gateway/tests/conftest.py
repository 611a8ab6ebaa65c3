from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.asgi import application
from config.asgi import registry as served_registry
from gateway.app import McpApp
from gateway.testing import (
    ALICE_KEY,
    ALLOWED_ORIGIN,
    PAGE_SIZE,
    InMemoryRegistry,
    demo_tools,
    make_server,
    serve_on_loopback,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registry() -> InMemoryRegistry:
    tools = demo_tools()
    return InMemoryRegistry(
        servers={
            "demo": make_server("demo", tools),
            "vault": make_server("vault", tools[:2], visibility="private"),
        },
        keys={ALICE_KEY: "vault"},
    )


@pytest.fixture
def mcp_base_url(registry: InMemoryRegistry) -> Iterator[str]:
    app = McpApp(
        registry,
        allowed_hosts=["127.0.0.1", "localhost"],
        allowed_origins=[ALLOWED_ORIGIN],
        max_body_bytes=64 * 1024,
        page_size=PAGE_SIZE,
    )
    with serve_on_loopback(app) as base_url:
        yield base_url


@pytest.fixture
def live(settings) -> Iterator[str]:
    """The project's own gateway (config.asgi) on loopback, allowed to reach loopback upstreams.

    The database is emptied between tests; the worker's cache of servers is emptied with it.
    """
    settings.OUTBOUND_ALLOW_PRIVATE = True
    served_registry.forget()
    with serve_on_loopback(application) as url:
        yield url
