"""Refusals through the real product (config.asgi under uvicorn, real HTTP): the MCP
endpoint's rate_limit as the official client and a plain HTTP client see it, the per-IP
limit of public servers, and the REST API's rate_limit next to billing and webhooks,
which are never throttled."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import stripe
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from accounts import local_issuer
from billing.testing import FakeStripe, use_fake_stripe
from config.asgi import application, registry
from gateway.testing import serve_on_loopback

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = """
openapi: 3.0.3
info: {title: Tiny, version: "1"}
paths:
  /ping: {get: {operationId: ping, responses: {"200": {description: ok}}}}
"""
REFUSED = -32000


@dataclass
class Live:
    base_url: str
    api: httpx2.Client


@pytest.fixture
def live(settings, alice) -> Iterator[Live]:
    settings.PLAN_ENFORCEMENT = True
    settings.USAGE_STATE_CACHE_SECONDS = 0
    registry.forget()
    token = local_issuer.mint_token(alice.email, lifetime_seconds=600)
    with (
        serve_on_loopback(application) as base_url,
        httpx2.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=20
        ) as api,
    ):
        yield Live(base_url, api)


@pytest.fixture
def stripe_fake(settings) -> Iterator[FakeStripe]:
    """Stripe faked (webhook processing tasks run inline: see the root conftest)."""
    with FakeStripe() as fake:
        use_fake_stripe(settings, fake)
        yield fake


def set_plan(settings, name: str, **values: Any) -> None:
    settings.PLANS = {**settings.PLANS, name: {**settings.PLANS[name], **values}}


def make_server(api: httpx2.Client) -> dict[str, Any]:
    spec = api.post("/api/specs", json={"content": SPEC}).json()["data"]
    body = {"specId": spec["id"], "name": "Tiny", "baseUrl": "http://127.0.0.1:9"}
    server = api.post("/api/servers", json=body)
    assert server.status_code == 201, server.text
    return server.json()["data"]


def tools_list(url: str, key: str | None = None) -> httpx2.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    return httpx2.post(url, content=json.dumps(message).encode(), headers=headers, timeout=20)


def assert_rate_limited(response: httpx2.Response) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    # A sliding window: hits late in the previous minute can still count well into this one.
    assert 1 <= retry_after <= 120
    body = response.json()
    assert body["id"] == 3
    assert body["error"]["code"] == REFUSED
    assert body["error"]["data"] == {"reason": "rate_limit", "retryAfter": retry_after}


def test_the_mcp_endpoint_refuses_past_the_per_minute_limit(live, settings):
    server = make_server(live.api)
    key = live.api.post(f"/api/servers/{server['id']}/keys", json={"name": "k"})
    url, access_key = f"{live.base_url}/mcp/{server['slug']}", key.json()["data"]["key"]
    set_plan(settings, "free", requests_per_minute=2)

    first, second, third = (tools_list(url, access_key) for _ in range(3))

    assert (first.status_code, second.status_code) == (200, 200)
    assert_rate_limited(third)
    assert "2 requests per minute" in third.json()["error"]["message"]

    async def as_the_official_client() -> MCPError:
        headers = {"Authorization": f"Bearer {access_key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=20) as http:
            with pytest.raises(BaseException) as raised:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    await client.list_tools()
        error: BaseException = raised.value
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        assert isinstance(error, MCPError)
        return error

    error = asyncio.run(as_the_official_client())
    assert error.code == REFUSED
    assert error.error.data["reason"] == "rate_limit"


def test_a_public_server_is_also_limited_per_client_address(live, settings):
    server = make_server(live.api)
    made_public = live.api.patch(f"/api/servers/{server['id']}", json={"visibility": "public"})
    assert made_public.status_code == 200
    settings.PUBLIC_IP_RPM = 2
    url = f"{live.base_url}/mcp/{server['slug']}"

    responses = [tools_list(url) for _ in range(3)]

    assert [r.status_code for r in responses[:2]] == [200, 200]
    assert_rate_limited(responses[2])
    assert "client address" in responses[2].json()["error"]["message"]


def test_billing_and_webhooks_stay_reachable_past_the_rest_limit(live, settings, stripe_fake):
    set_plan(settings, "free", requests_per_minute=1)
    api = live.api

    assert api.get("/api/logs").status_code == 200
    refused = api.get("/api/servers")
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert refused.json() == {
        "success": False,
        "error": {
            "code": "RATE_LIMIT",
            "message": "Too many requests",
            "details": {"reason": "rate_limit", "retryAfterSeconds": retry_after},
        },
    }

    # Billing is how a limited user gets out of the limit: it never throttles.
    for _ in range(3):
        assert api.get("/api/billing/subscription").status_code == 200
        assert api.get("/api/billing/budget-cap").status_code == 200
        assert api.put("/api/billing/budget-cap", json={"budgetCap": 5}).status_code == 200
        assert api.post("/api/billing/checkout", json={"planId": "starter"}).status_code == 200
    for n in range(3):
        event = json.dumps(
            {
                "id": f"evt_unthrottled_{n}",
                "object": "event",
                "created": int(time.time()),
                "type": "customer.created",
                "data": {"object": {"id": "cus_x", "object": "customer"}},
            }
        )
        signature = stripe.WebhookSignature.generate_signature_header(
            event, settings.STRIPE_WEBHOOK_SECRET
        )
        delivered = httpx2.post(
            f"{live.base_url}/api/webhooks/stripe",
            content=event.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        assert (delivered.status_code, delivered.json()) == (200, {"received": True})
    assert api.get("/api/logs").status_code == 429
