"""The no-leak scan extended to the MCP path: every secured tool called through the real
product by the official MCP client, against an upstream that echoes the credentials back
in bodies, headers and error messages. No secret may reach the client, the request logs,
the admin or any log record."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx2
import pytest
from django.test import Client as DjangoClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from accounts.models import User
from config.asgi import application, registry
from credentials.testing import (
    LEAK_BEARER,
    LEAK_HEADER_KEY,
    LEAK_QUERY_KEY,
    leaks_in,
    leaky_server,
)
from gateway.testing import serve_on_loopback
from usage.models import RequestLog
from usage.recorder import recorder

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = ["viaHeader", "viaQuery", "viaBearer", "viaBasic", "viaOauth", "inherited", "either"]


def call_every_tool(url: str, key: str) -> list[Any]:
    async def go() -> list[Any]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=20) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return [await client.call_tool(name, {}) for name in TOOLS]

    return asyncio.run(go())


def test_no_secret_reaches_mcp_clients_logs_or_the_admin(alice, alice_client, settings, caplog):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    caplog.set_level(logging.DEBUG)
    registry.forget()
    seen: list[str] = []
    with (
        leaky_server(alice, alice_client) as (server, upstream, _),
        serve_on_loopback(application) as live,
    ):
        key = alice_client.post(f"/api/servers/{server.id}/keys", {"name": "k"}, format="json")
        assert key.status_code == 201

        results = call_every_tool(f"{live}/mcp/{server.slug}", key.json()["data"]["key"])
        recorder.flush()
        logs = alice_client.get(f"/api/logs?serverId={server.id}")

    # The upstream got every secret, and echoed them back.
    received = json.dumps([dict(r.headers.items()) | {"path": r.path} for r in upstream.requests])
    assert all(secret in received for secret in [LEAK_HEADER_KEY, LEAK_QUERY_KEY, LEAK_BEARER])
    assert [result.is_error for result in results] == [False] * 6 + [True]
    for result in results:
        seen.append(result.model_dump_json())
    assert "[REDACTED]" in seen[0]
    assert logs.status_code == 200 and len(logs.json()["data"]) == len(TOOLS)
    seen.append(logs.content.decode())
    seen.append(json.dumps(list(RequestLog.objects.values()), default=str))

    operator = User.objects.create_user(clerk_id="ops", email="ops@example.com")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    admin = DjangoClient()
    admin.force_login(operator)
    pages = ["/admin/usage/requestlog/", f"/admin/servers/server/{server.id}/change/"]
    pages += [f"/admin/usage/requestlog/{log.id}/change/" for log in RequestLog.objects.all()]
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, page
        seen.append(response.content.decode())
    for record in caplog.records:
        seen.append(record.getMessage() + (record.exc_text or ""))

    everything = "\n".join(seen)
    assert leaks_in(everything) == []
