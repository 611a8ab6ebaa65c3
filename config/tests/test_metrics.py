"""`/metrics`: behind its token, parsed by Prometheus' own text parser, counting exactly what
the gateway did (config.asgi under uvicorn, a real upstream on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from accounts import local_issuer
from config.asgi import application, registry
from core.observability import metrics
from core.testing import LoopbackServer, RecordedRequest, json_reply
from gateway.testing import serve_on_loopback
from webhooks.models import WebhookEvent

SPEC = (Path(__file__).resolve().parents[2] / "gateway/tests/e2e.openapi.yaml").read_text()
TOKEN = "scrape-token-0123456789"
pytestmark = pytest.mark.django_db(transaction=True)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def upstream_answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.path.startswith("/items/boom"):
        return json_reply({"message": "boom"}, status=500)
    return json_reply({"id": "x"})


@pytest.fixture
def metrics_on(settings) -> Iterator[None]:
    settings.METRICS_TOKEN = TOKEN
    metrics.configure(enabled=True)
    try:
        yield
    finally:
        metrics.configure(enabled=False)


@pytest.fixture
def live(settings, alice) -> Iterator[tuple[str, httpx2.Client]]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
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
        yield base_url, api


def make_server(api: httpx2.Client, base_url: str) -> dict[str, Any]:
    spec = api.post("/api/specs", json={"content": SPEC}).json()["data"]
    body = {"specId": spec["id"], "name": "Shop", "baseUrl": base_url}
    server = api.post("/api/servers", json=body)
    assert server.status_code == 201, server.text
    return server.json()["data"]


def tools_call(url: str, key: str | None, name: str, arguments: dict[str, Any]) -> httpx2.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return httpx2.post(url, content=json.dumps(message).encode(), headers=headers, timeout=20)


def scrape(base_url: str) -> Samples:
    response = httpx2.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_the_calls_of_each_server_exactly(live, metrics_on, settings):
    base_url, api = live
    with LoopbackServer(upstream_answer) as upstream:
        shop = make_server(api, upstream.url)
        key = api.post(f"/api/servers/{shop['id']}/keys", json={"name": "k"}).json()["data"]["key"]
        # A public server whose upstream refuses connections, limited to 2 calls per minute.
        down = make_server(api, "http://127.0.0.1:9")
        assert api.patch(f"/api/servers/{down['id']}", json={"visibility": "public"}).is_success
        settings.PUBLIC_IP_RPM = 2
        before = scrape(base_url)

        shop_url, down_url = f"{base_url}/mcp/{shop['slug']}", f"{base_url}/mcp/{down['slug']}"
        for _ in range(3):
            assert tools_call(shop_url, key, "getItem", {"itemId": "a"}).status_code == 200
        for _ in range(2):
            tools_call(shop_url, key, "getItem", {"itemId": "boom"})
        tools_call(shop_url, key, "getItem", {"itemId": 12})  # invalid arguments
        tools_call(shop_url, key, "noSuchTool", {})
        for _ in range(2):
            tools_call(down_url, None, "getItem", {"itemId": "a"})
        assert tools_call(down_url, None, "getItem", {"itemId": "a"}).status_code == 429

        after = scrape(base_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    calls = "specgate_tool_calls_total"
    assert delta(calls, server=shop["id"], outcome="ok") == 3
    assert delta(calls, server=shop["id"], outcome="http_error") == 2
    assert delta(calls, server=shop["id"], outcome="rejected") == 2
    assert delta(calls, server=shop["id"], outcome="upstream_failure") == 0
    assert delta(calls, server=down["id"], outcome="upstream_failure") == 2
    assert delta(calls, server=down["id"], outcome="ok") == 0
    # Latency is observed for the calls that went out, rejected ones excluded.
    assert delta("specgate_tool_call_duration_seconds_count", server=shop["id"]) == 5
    assert delta("specgate_upstream_duration_seconds_count", server=shop["id"]) == 5
    assert delta("specgate_tool_call_duration_seconds_bucket", server=shop["id"], le="+Inf") == 5
    assert delta("specgate_refusals_total", reason="rate_limit") == 1
    assert delta("specgate_snapshot_reloads_total", result="loaded") >= 2
    # No tool, user or client label anywhere: only the bounded ones.
    labels = {
        label for (name, pairs) in after for label, _ in pairs if name.startswith("specgate_")
    }
    assert labels <= {"server", "outcome", "reason", "result", "le", "provider", "queue"}


def test_backlogs_are_read_when_scraped(live, metrics_on):
    base_url, _ = live
    for index, (provider, status) in enumerate(
        [("stripe", "received"), ("stripe", "processing"), ("clerk", "processed")]
    ):
        WebhookEvent.objects.create(
            provider=provider, event_id=f"evt_{index}", type="t", payload={}, status=status
        )

    samples = scrape(base_url)

    assert value(samples, "specgate_webhook_backlog", provider="stripe") == 2
    assert value(samples, "specgate_webhook_backlog", provider="clerk") == 0
    depths = [name for (name, _) in samples if name == "specgate_celery_queue_depth"]
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        # Measured in the broker (its count is checked in test_metrics_gunicorn.py).
        assert depths == ["specgate_celery_queue_depth"]
    else:
        # The embedded default's broker is in memory: there is no queue to measure.
        assert depths == []


def test_a_scrape_needs_the_token(live, metrics_on):
    base_url, _ = live

    missing = httpx2.get(f"{base_url}/metrics")
    wrong = httpx2.get(f"{base_url}/metrics", headers={"Authorization": "Bearer nope-nope"})
    latin = {b"Authorization": "Bearer jé".encode("latin-1")}
    odd = httpx2.get(f"{base_url}/metrics", headers=latin)

    assert [missing.status_code, wrong.status_code, odd.status_code] == [401, 401, 401]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "specgate_" not in missing.text + wrong.text


def test_without_a_token_configured_there_is_no_endpoint(live, settings):
    settings.METRICS_TOKEN = ""

    response = httpx2.get(f"{live[0]}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 404
