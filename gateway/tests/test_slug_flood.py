"""A flood of made-up server slugs: no lookup for a slug no server can have, and bounded memory
for the rest (the remembered unknown slugs and the per-slug locks)."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends import utils as db_utils

from config.asgi import mcp_app, registry
from core.aio import held_lock_count
from gateway import registry as registry_module
from gateway.testing import asgi_post
from servers.services import server_create
from specs.services import spec_create

pytestmark = pytest.mark.django_db(transaction=True)

FLOOD = 20_000
RSS_GROWTH_LIMIT_BYTES = 15 * 1024 * 1024
PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
SPEC = (Path(__file__).parent / "e2e.openapi.yaml").read_text()


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def post(slug: str) -> int:
    return await asgi_post(mcp_app, f"/mcp/{slug}", PING, [(b"host", b"localhost")])


def random_slug() -> str:
    return f"{secrets.token_hex(6)}-{secrets.token_hex(4)}"


@pytest.fixture
def queries(monkeypatch) -> list[str]:
    """Every SQL statement any thread runs (the registry loads on worker threads)."""
    seen: list[str] = []
    execute = db_utils.CursorWrapper.execute

    def counting_execute(self: Any, sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(db_utils.CursorWrapper, "execute", counting_execute)
    return seen


@pytest.fixture(autouse=True)
def empty_registry() -> None:
    registry.forget()


@pytest.mark.parametrize(
    "slug",
    ["Upper", "under_score", "-leading", "trailing-", "a" * 65, "dot.dot", "sp ace", "é"],
)
def test_a_slug_no_server_can_have_is_refused_without_a_lookup(
    slug: str, queries: list[str]
) -> None:
    status = asyncio.run(post(slug))

    assert status == 404
    assert queries == []
    assert registry.cached_counts() == (0, 0)


def test_a_valid_looking_unknown_slug_is_looked_up_once_and_remembered(queries) -> None:
    slug = random_slug()

    async def twice() -> list[int]:
        return [await post(slug), await post(slug)]

    assert asyncio.run(twice()) == [404, 404]
    assert len(queries) == 1
    assert registry.cached_counts() == (0, 1)


@pytest.fixture
def kept_connections(monkeypatch) -> None:
    """Keep the worker threads' database connections open between lookups, as a deployment
    on PostgreSQL does (CONN_MAX_AGE): the embedded SQLite default reconnects per query,
    which would make 20,000 lookups take minutes without changing what is measured."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 600)


@pytest.mark.once
def test_a_real_server_is_still_served_after_a_flood(alice, kept_connections) -> None:
    spec = spec_create(user=alice, content=SPEC)
    server = server_create(
        user=alice, spec_id=spec.id, name="Kept", base_url="https://api.example.com"
    )

    async def flood_then_ping() -> int:
        await post(server.slug)
        for _ in range(registry_module.MISSING_CACHE_MAX + 10):
            await post(random_slug())
        return await post(server.slug)

    # A public server answers ping without a key; a private one asks for it (401): either way
    # the server was found, not forgotten among the unknown slugs.
    assert asyncio.run(flood_then_ping()) in (200, 401)
    assert registry.cached_counts() == (1, registry_module.MISSING_CACHE_MAX)


@pytest.mark.once
def test_a_flood_of_unknown_slugs_keeps_memory_and_caches_bounded(kept_connections) -> None:
    async def flood(count: int, concurrency: int = 50) -> tuple[list[int], int]:
        statuses: list[int] = []
        for start in range(0, count, concurrency):
            batch = [post(random_slug()) for _ in range(min(concurrency, count - start))]
            statuses += await asyncio.gather(*batch)
        return statuses, held_lock_count()

    # Warm up first (thread pool, database connections, allocator arenas), then measure.
    asyncio.run(flood(registry_module.MISSING_CACHE_MAX))
    before = rss_bytes()
    statuses, locks_left = asyncio.run(flood(FLOOD))
    growth = rss_bytes() - before
    print(f"flood of {FLOOD} unknown slugs: RSS grew by {growth / 2**20:.1f} MB")

    assert set(statuses) == {404}
    servers, missing = registry.cached_counts()
    assert servers == 0
    assert missing <= registry_module.MISSING_CACHE_MAX
    assert locks_left == 0
    assert growth < RSS_GROWTH_LIMIT_BYTES, f"RSS grew by {growth / 2**20:.1f} MB"
