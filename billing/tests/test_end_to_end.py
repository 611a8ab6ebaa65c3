"""Billing end to end over real connections (issue 7): checkout → Stripe webhooks → plan
upgraded → the higher quota enforced on the MCP endpoint → overage reported to Stripe →
budget cap reached → tool calls refused with `budget_cap`.

Everything runs as in production except the far ends: the product is config.asgi under
uvicorn, REST calls and webhooks go over HTTP to it, MCP calls come from the official
client, the user's API is a loopback HTTP server and Stripe is billing.testing's fake,
reached through the real SDK.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from accounts import local_issuer
from billing.models import MeterReport
from billing.testing import FakeStripe, deliver_stripe_event, stripe_event, subscription_object
from config.asgi import application, registry
from core.testing import LoopbackServer, RecordedRequest
from gateway.testing import serve_on_loopback
from usage import limits
from usage.metering import overage_report_all
from usage.recorder import recorder
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = """
openapi: 3.0.3
info: {title: Weather, version: "1"}
paths:
  /forecast:
    get:
      operationId: forecast
      responses: {"200": {description: ok}}
"""
FREE_INCLUDED = 3
STARTER_INCLUDED = 5
# EUR 1.00 a call past the included ones, so two overage calls reach a EUR 2.00 cap.
STARTER_OVERAGE_PER_1000 = 1000
BUDGET_CAP = "2.00"
REFUSED = -32000


def forecast(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, b'{"sky": "clear"}'


@dataclass
class Product:
    base_url: str
    api: httpx2.Client
    mcp_url: str
    access_key: str
    upstream: LoopbackServer
    stripe: FakeStripe
    webhook_secret: str


@pytest.fixture
def product(settings, fake_stripe, alice) -> Iterator[Product]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.PLAN_ENFORCEMENT = True
    # Plan and usage are re-read on every admission, so a change shows at once.
    settings.USAGE_STATE_CACHE_SECONDS = 0
    plans = settings.PLANS
    settings.PLANS = {
        **plans,
        "free": {**plans["free"], "included_calls": FREE_INCLUDED},
        "starter": {
            **plans["starter"],
            "included_calls": STARTER_INCLUDED,
            "overage_per_1000": STARTER_OVERAGE_PER_1000,
        },
    }
    limits.reset_local_state()
    registry.forget()
    token = local_issuer.mint_token(alice.email, lifetime_seconds=600)
    with (
        LoopbackServer(forecast) as upstream,
        serve_on_loopback(application) as base_url,
        httpx2.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=20
        ) as api,
    ):
        server = make_server(api, upstream.url)
        key = api.post(f"/api/servers/{server['id']}/keys", json={"name": "agent"})
        assert key.status_code == 201, key.text
        yield Product(
            base_url=base_url,
            api=api,
            mcp_url=f"{base_url}/mcp/{server['slug']}",
            access_key=key.json()["data"]["key"],
            upstream=upstream,
            stripe=fake_stripe,
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
        )
    limits.reset_local_state()


def make_server(api: httpx2.Client, upstream_url: str) -> dict[str, Any]:
    spec = api.post("/api/specs", json={"content": SPEC})
    assert spec.status_code == 201, spec.text
    body = {"specId": spec.json()["data"]["id"], "name": "Weather", "baseUrl": upstream_url}
    server = api.post("/api/servers", json=body)
    assert server.status_code == 201, server.text
    return server.json()["data"]


def call_forecast(product: Product) -> str | MCPError:
    """One tools/call from the official client: "ok", or the MCPError it raised.

    The recorder is flushed after each call so the next admission counts it.
    """

    async def go() -> str | MCPError:
        headers = {"Authorization": f"Bearer {product.access_key}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            Client(streamable_http_client(product.mcp_url, http_client=http)) as client,
        ):
            try:
                result = await client.call_tool("forecast", {})
            except MCPError as error:
                return error
            assert result.is_error is False
            return "ok"

    try:
        return asyncio.run(go())
    finally:
        recorder.flush()


def raw_tools_call(product: Product) -> httpx2.Response:
    """A tools/call as plain HTTP, to see the exact status, headers and body."""
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "forecast", "arguments": {}},
    }
    return httpx2.post(
        product.mcp_url,
        content=json.dumps(message).encode(),
        headers={
            "Authorization": f"Bearer {product.access_key}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
        timeout=20,
    )


def assert_refused(response: httpx2.Response, reason: str, period_end: datetime) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    remaining = (period_end - datetime.now(UTC)).total_seconds()
    assert remaining - 60 <= retry_after <= remaining + 2
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 7
    assert body["error"]["code"] == REFUSED
    assert body["error"]["data"] == {"reason": reason, "retryAfter": retry_after}


def post_stripe_event(product: Product, event_type: str, obj: dict[str, Any]) -> httpx2.Response:
    body = stripe_event(event_type, obj, event_id=f"evt_e2e_{event_type}")
    return deliver_stripe_event(product.base_url, body, product.webhook_secret, timeout=20)


def month_end() -> datetime:
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start + timedelta(days=32)).replace(day=1)


def test_checkout_to_budget_cap_across_the_whole_product(product, alice, settings):
    api, fake = product.api, product.stripe

    # 1. On the free plan the fourth tool call is refused: the quota is a hard stop.
    outcomes = [call_forecast(product) for _ in range(FREE_INCLUDED + 1)]
    assert outcomes[:FREE_INCLUDED] == ["ok"] * FREE_INCLUDED
    refused = outcomes[FREE_INCLUDED]
    assert isinstance(refused, MCPError)
    assert refused.code == REFUSED
    assert refused.error.data["reason"] == "quota"
    assert_refused(raw_tools_call(product), "quota", month_end())
    assert len(product.upstream.requests) == FREE_INCLUDED
    # The quota stops tool calls only: the REST API still answers.
    usage = api.get("/api/usage")
    assert usage.status_code == 200
    assert (usage.json()["data"]["plan"]["name"], usage.json()["data"]["periodCalls"]) == (
        "free",
        FREE_INCLUDED,
    )

    # 2. Checkout: Stripe gets a customer and a subscription session tied to alice.
    checkout = api.post("/api/billing/checkout", json={"planId": "starter"})
    assert checkout.status_code == 200, checkout.text
    session_id = checkout.json()["data"]["sessionId"]
    (customer_request,) = fake.requests_to("POST", "/v1/customers")
    assert customer_request.idempotency_key == f"specgate:customer:{alice.pk}"
    (customer_id,) = fake.customers
    (session_request,) = fake.requests_to("POST", "/v1/checkout/sessions")
    assert session_request.params["customer"] == customer_id
    assert session_request.params["client_reference_id"] == str(alice.pk)
    assert session_request.params["line_items[0][price]"] == "price_starter_flat"
    assert session_request.params["line_items[1][price]"] == "price_starter_metered"
    assert session_request.idempotency_key.startswith(f"specgate:checkout:{alice.pk}:starter:")

    # 3. The customer pays; Stripe sends its webhooks and serves the subscription.
    period_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    period_end = period_start + timedelta(days=30)
    subscription = subscription_object(
        subscription_id="sub_e2e",
        customer=customer_id,
        status="active",
        price_ids=["price_starter_flat", "price_starter_metered"],
        period_start=int(period_start.timestamp()),
        period_end=int(period_end.timestamp()),
        metadata={"user_id": str(alice.pk), "plan": "starter"},
    )
    fake.subscriptions["sub_e2e"] = subscription
    completed = {
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(alice.pk),
        "customer": customer_id,
        "subscription": "sub_e2e",
    }
    for event_type, obj in [
        ("checkout.session.completed", completed),
        ("customer.subscription.created", subscription),
    ]:
        delivered = post_stripe_event(product, event_type, obj)
        assert (delivered.status_code, delivered.json()) == (200, {"received": True})
    assert {(e.type, e.status, e.attempts) for e in WebhookEvent.objects.all()} == {
        ("checkout.session.completed", "processed", 1),
        ("customer.subscription.created", "processed", 1),
    }
    # Each handler re-read the subscription from Stripe rather than trusting the event.
    assert len(fake.requests_to("GET", "/v1/subscriptions/sub_e2e")) == 2

    # 4. The plan is upgraded, with the subscription's period.
    plan = api.get("/api/billing/subscription").json()["data"]
    assert plan == {
        "plan": "starter",
        "status": "active",
        "currentPeriodStart": period_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "currentPeriodEnd": period_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cancelAtPeriodEnd": False,
    }

    # 5. The higher quota is enforced: calls pass beyond the free three, into overage.
    overage_calls = 2
    calls_after_upgrade = STARTER_INCLUDED - FREE_INCLUDED + overage_calls
    assert [call_forecast(product) for _ in range(calls_after_upgrade)] == [
        "ok"
    ] * calls_after_upgrade
    assert len(product.upstream.requests) == STARTER_INCLUDED + overage_calls

    # 6. The overage is reported to Stripe once, under the (user, period, sequence) id.
    recorder.flush()
    assert overage_report_all() == 1
    assert overage_report_all() == 0
    identifier = f"sg-{alice.pk}-{int(period_start.timestamp())}-1"
    (meter_request,) = fake.requests_to("POST", "/v1/billing/meter_events")
    assert meter_request.params["identifier"] == identifier
    assert meter_request.params["payload[value]"] == str(overage_calls)
    assert meter_request.params["payload[stripe_customer_id]"] == customer_id
    assert meter_request.params["event_name"] == settings.STRIPE_METER_EVENT_NAME
    assert meter_request.idempotency_key == f"specgate:meter:{identifier}"
    assert fake.billed_calls(customer_id) == overage_calls
    assert MeterReport.objects.get().status == "sent"

    # 7. A budget cap the overage has already reached stops further tool calls.
    capped = api.put("/api/billing/budget-cap", json={"budgetCap": float(BUDGET_CAP)})
    assert capped.status_code == 200, capped.text
    assert capped.json()["data"] == {"budgetCap": 2.0, "currency": "EUR"}
    refused = call_forecast(product)
    assert isinstance(refused, MCPError)
    assert refused.code == REFUSED
    assert refused.error.data["reason"] == "budget_cap"
    assert "EUR 2.00" in str(refused)
    assert_refused(raw_tools_call(product), "budget_cap", period_end)
    assert len(product.upstream.requests) == STARTER_INCLUDED + overage_calls

    # 8. The capped user's REST API and billing still work, and a higher cap lets calls on.
    usage = api.get("/api/usage").json()["data"]
    assert (usage["plan"]["name"], usage["overageCalls"], usage["overageCost"]) == (
        "starter",
        overage_calls,
        2.0,
    )
    assert {(a["kind"], a["threshold"]) for a in usage["alerts"]} >= {("budget_cap", 100)}
    assert api.get("/api/logs").status_code == 200
    raised = api.put("/api/billing/budget-cap", json={"budgetCap": 3.0})
    assert raised.status_code == 200
    assert call_forecast(product) == "ok"
