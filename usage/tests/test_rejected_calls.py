"""A tools/call the gateway rejects before calling out (an unknown tool, invalid arguments),
through the production ASGI app under uvicorn: it is logged, and it counts as a call.

The decision: a rejected call was admitted like any other (rate limit, quota and budget cap
are checked before the tool and its arguments are), so it is logged with its error code and
counts in the period's usage, which is what quota and overage billing read. A caller cannot
spend the upstream's time for free, nor the gateway's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from config.asgi import application, registry
from core.testing import LoopbackServer, json_reply
from gateway.testing import serve_on_loopback
from usage.models import RequestLog, UsageDaily
from usage.recorder import recorder
from usage.selectors import period_call_count

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Items", "version": "1.0"},
    "paths": {
        "/items/{id}": {
            "get": {
                "operationId": "getItem",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "An item"}},
            }
        }
    },
}


@pytest.fixture
def served(settings, alice_client) -> Iterator[tuple[str, str, LoopbackServer]]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(lambda request: json_reply({"id": 1})) as upstream:
        spec = alice_client.post("/api/specs", {"document": DOCUMENT}, format="json").json()
        server = alice_client.post(
            "/api/servers",
            {"specId": spec["data"]["id"], "name": "Items", "baseUrl": upstream.url},
            format="json",
        ).json()["data"]
        key = alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json")
        registry.forget()
        with serve_on_loopback(application) as live:
            yield f"{live}/mcp/{server['slug']}", key.json()["data"]["key"], upstream


def tools_call(url: str, key: str, name: str, arguments: Any) -> dict[str, Any]:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    with httpx2.Client(timeout=20) as client:
        response = client.post(url, content=json.dumps(message), headers=headers)
    body: dict[str, Any] = response.json()
    return body


def test_rejected_calls_are_logged_and_count_as_billed_calls(alice, served):
    url, key, upstream = served

    unknown = tools_call(url, key, "noSuchTool", {})
    invalid = tools_call(url, key, "getItem", {"id": "not a number"})
    recorder.flush()

    assert "error" in unknown
    assert invalid["result"]["isError"] is True
    assert upstream.requests == []
    logs = sorted(
        RequestLog.objects.values_list("tool_name", "error_code", "status_code", "succeeded"),
    )
    assert logs == [
        ("getItem", "invalid_arguments", None, False),
        ("noSuchTool", "unknown_tool", None, False),
    ]
    assert RequestLog.objects.filter(source="mcp").count() == 2
    assert UsageDaily.objects.get().calls == 2
    now = datetime.now(UTC)
    start, end = now - timedelta(days=1), now + timedelta(days=1)
    assert period_call_count(user_id=alice.pk, start=start, end=end) == 2
