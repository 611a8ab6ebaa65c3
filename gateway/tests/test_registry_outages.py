"""The registry keeps serving when the shared cache (Redis) is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.testing import free_port
from gateway import registry as registry_module
from gateway.registry import DjangoRegistry
from servers.models import Server
from servers.services import server_create
from specs.services import spec_create

SPEC = (Path(__file__).parent / "e2e.openapi.yaml").read_text()
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(alice) -> Server:
    spec = spec_create(user=alice, content=SPEC)
    return server_create(
        user=alice, spec_id=spec.id, name="Outage", base_url="https://api.example.com"
    )


@pytest.fixture
def cache_down(settings) -> None:
    """A Redis cache on a loopback port nothing listens on: every read is refused."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


def test_it_serves_servers_from_the_database_while_the_cache_is_down(server, cache_down) -> None:
    runtime = asyncio.run(DjangoRegistry().get_server(server.slug))

    assert runtime is not None
    assert runtime.slug == server.slug
    assert "getItem" in runtime.tools_by_name


def test_changes_still_apply_while_the_cache_is_down(server, cache_down, monkeypatch) -> None:
    monkeypatch.setattr(registry_module, "GENERATION_CHECK_SECONDS", 0.0)
    registry = DjangoRegistry()

    async def before_and_after_disabling() -> tuple[bool, bool]:
        before = await registry.get_server(server.slug)
        # The service would publish a new generation, but the cache is down: only the
        # database knows. Written directly, as a change made by another process.
        await asyncio.to_thread(Server.objects.filter(pk=server.pk).update, status="disabled")
        after = await registry.get_server(server.slug)
        return before is not None, after is None

    served_before, gone_after = asyncio.run(before_and_after_disabling())
    assert served_before
    assert gone_after
