"""What a tools/call through the served gateway does not wait for: a credential's last-used
write, asgiref's one shared thread; and what it does not rebuild: the outbound options."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from django.db import connection, transaction

from accounts.models import User
from config.asgi import application, registry
from core.invalidation import server_changed
from core.testing import LoopbackServer, asgiref_shared_thread_held
from credentials.injection import forget_cached
from credentials.models import Credential
from credentials.services import credential_create
from credentials.testing import echo
from gateway.testing import serve_on_loopback
from servers.models import Server
from servers.services import access_key_create, server_create
from specs.services import spec_create
from usage.limits import reset_local_state

pytestmark = pytest.mark.django_db(transaction=True)

# Short of the 5 s SQLite waits for a lock, and of forever, which PostgreSQL waits.
CALL_TIMEOUT_SECONDS = 4.0
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Secured", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "security": [{"token": []}],
    "paths": {
        "/things": {"get": {"operationId": "listThings", "responses": {"200": {"description": ""}}}}
    },
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
}


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    with LoopbackServer(echo) as server:
        yield server


@pytest.fixture
def live(settings: Any) -> Iterator[str]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    registry.forget()
    forget_cached()
    with serve_on_loopback(application) as url:
        yield url
    forget_cached()


@pytest.fixture
def secured(alice: User, upstream: LoopbackServer) -> tuple[Server, str, Credential]:
    spec = spec_create(user=alice, content=json.dumps(SPEC))
    server = server_create(user=alice, spec_id=spec.id, name="Secured", base_url=upstream.url)
    _, key = access_key_create(server=server, name="laptop")
    credential = credential_create(
        user=alice, server_id=server.id, type="bearer", secret={"value": "tok-1"}
    )
    return server, key, credential


def call_tool(live: str, server: Server, key: str) -> dict[str, Any]:
    response = httpx2.post(
        f"{live}/mcp/{server.slug}",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "listThings", "arguments": {}},
        },
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        timeout=CALL_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def test_a_call_does_not_wait_for_the_credentials_last_used_write(
    live: str, upstream: LoopbackServer, secured: tuple[Server, str, Credential]
) -> None:
    server, key, credential = secured
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        # Another transaction writing the row: the touch's UPDATE must wait for it.
        try:
            with transaction.atomic():
                Credential.objects.filter(pk=credential.pk).update(last_used_at=None)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row, daemon=True)
    holder.start()
    assert locked.wait(10)
    try:
        result = call_tool(live, server, key)
    finally:
        release.set()
        holder.join(10)

    assert result["isError"] is False
    assert upstream.requests[-1].headers["Authorization"] == "Bearer tok-1"
    deadline = time.monotonic() + 10
    while Credential.objects.get(pk=credential.pk).last_used_at is None:
        assert time.monotonic() < deadline, "the last-used write never landed"
        time.sleep(0.05)


def test_a_call_does_not_queue_behind_asgirefs_shared_thread(
    live: str, settings: Any, secured: tuple[Server, str, Credential]
) -> None:
    server, key, _ = secured
    # Enforcement on and nothing cached: the call loads the plan and the credentials.
    settings.PLAN_ENFORCEMENT = True
    reset_local_state()

    with asgiref_shared_thread_held():
        result = call_tool(live, server, key)

    assert result["isError"] is False


def test_a_snapshot_keeps_the_outbound_options_it_was_built_with(
    live: str, settings: Any, secured: tuple[Server, str, Credential]
) -> None:
    server, key, _ = secured
    first = call_tool(live, server, key)
    settings.OUTBOUND_ALLOW_PRIVATE = False

    # Built once with the snapshot, not again per call: the same options until it reloads.
    again = call_tool(live, server, key)
    server_changed(server.slug)
    registry.check_now(server.slug)
    reloaded = call_tool(live, server, key)

    assert first["isError"] is False
    assert again["isError"] is False
    assert reloaded["isError"] is True
    assert "not allowed" in reloaded["content"][0]["text"]
