"""POST /api/servers/{id}/tools/{toolId}/test, run by Celery in-process (eager)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.testing import LoopbackServer, RecordedRequest, json_reply
from credentials import services as credential_services
from credentials.injection import forget_cached
from credentials.testing import echo, operation, server_from_document, tool_named
from tooltests.models import ToolTest
from usage.models import RequestLog

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "bt-tool-test-5e1f0c"


def items_document() -> dict[str, Any]:
    item = {
        "operationId": "getItem",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        ],
        "responses": {"200": {"description": "ok"}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Items", "version": "1"},
        "security": [{"bearerAuth": []}],
        "paths": {"/items/{id}": {"get": item}, **operation("/broken", "broken")},
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }


def upstream_handler(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.path.startswith("/broken"):
        return json_reply({"message": f"exploded while holding {SECRET}"}, status=500)
    return echo(request)


@pytest.fixture(autouse=True)
def _test_settings(settings) -> None:
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.TOOL_TEST_WAIT_SECONDS = 5.0
    forget_cached()


@pytest.fixture
def upstream(settings) -> Iterator[LoopbackServer]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(upstream_handler) as server:
        yield server


@pytest.fixture
def items(alice, upstream):
    server = server_from_document(user=alice, document=items_document(), base_url=upstream.url)
    credential_services.credential_create(
        user=alice, server_id=server.id, type="bearer", secret={"value": SECRET}
    )
    return server


def run_url(server, tool_name: str) -> str:
    return f"/api/servers/{server.id}/tools/{tool_named(server, tool_name).id}/test"


def test_it_runs_the_tool_and_shows_what_happened(alice_client, items, upstream):
    response = alice_client.post(
        run_url(items, "getItem"), {"arguments": {"id": 7, "limit": 2}}, format="json"
    )

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["status"] == "succeeded"
    assert data["result"]["isError"] is False
    assert data["result"]["structuredContent"]["path"] == "/items/7?limit=2"
    assert data["request"]["method"] == "GET"
    assert data["request"]["url"] == f"{upstream.url}/items/7?limit=2"
    assert data["request"]["headers"]["Authorization"] == "[REDACTED]"
    assert data["response"]["statusCode"] == 200
    assert set(data["timing"]) == {"queuedMs", "upstreamMs", "totalMs"}
    assert all(isinstance(value, int) for value in data["timing"].values())
    assert data["error"] is None
    assert upstream.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    # The upstream echoed the token back; it is scrubbed from everything shown.
    assert SECRET not in response.content.decode()
    assert ToolTest.objects.get(id=data["testId"]).status == "succeeded"


def test_each_test_writes_one_request_log(alice_client, items):
    alice_client.post(run_url(items, "getItem"), {"arguments": {"id": 7}}, format="json")

    log = RequestLog.objects.get()
    assert log.source == "test"
    assert log.method == "GET"
    assert log.path == "/items/{id}"
    assert log.status_code == 200
    assert log.tool_name == "getItem"
    assert log.server_id == items.id


def test_arguments_are_validated_against_the_input_schema(alice_client, items, upstream):
    response = alice_client.post(
        run_url(items, "getItem"), {"arguments": {"limit": 0, "extra": "x"}}, format="json"
    )

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert any("'id' is a required property" in message for message in details["arguments"])
    assert "arguments.limit" in details
    assert upstream.requests == []
    assert ToolTest.objects.count() == 0


def test_a_tool_test_takes_the_selection_argument_as_mcp_clients_do(alice_client, items, upstream):
    response = alice_client.post(
        run_url(items, "getItem"), {"arguments": {"id": 7, "_select": "path"}}, format="json"
    )

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["result"]["structuredContent"] == {"result": "/items/7"}
    assert upstream.requests[-1].path == "/items/7"
    assert RequestLog.objects.get().response_bytes == len(b'"/items/7"')
    refused = alice_client.post(
        run_url(items, "getItem"), {"arguments": {"id": 7, "_select": 1}}, format="json"
    )
    assert refused.status_code == 400
    assert "arguments['_select']" in refused.json()["error"]["details"]


def test_arguments_must_be_an_object(alice_client, items):
    response = alice_client.post(run_url(items, "getItem"), {"arguments": [1]}, format="json")

    assert response.status_code == 400
    assert "arguments" in response.json()["error"]["details"]


def test_an_upstream_error_status_is_a_failed_test(alice_client, items):
    response = alice_client.post(run_url(items, "broken"), {}, format="json")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "failed"
    assert data["result"]["isError"] is True
    assert data["response"]["statusCode"] == 500
    assert SECRET not in response.content.decode()
    assert RequestLog.objects.get().status_code == 500


def test_an_unreachable_upstream_is_502_and_an_error_later(alice, alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(echo) as gone:
        base_url = gone.url
    server = server_from_document(user=alice, document=items_document(), base_url=base_url)
    url = run_url(server, "getItem")

    response = alice_client.post(url, {"arguments": {"id": 1}}, format="json")

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "UPSTREAM_ERROR"
    assert error["details"]["code"] == "upstream_connect"
    assert set(error["details"]["timing"]) == {"queuedMs", "upstreamMs", "totalMs"}
    later = alice_client.get(url.removesuffix("/test") + f"/tests/{error['details']['testId']}")
    assert later.status_code == 200
    assert later.json()["data"]["status"] == "error"
    assert later.json()["data"]["error"]["code"] == "upstream_connect"
    assert later.json()["data"]["error"]["message"] == "The upstream API could not be reached."
    assert RequestLog.objects.get().error_code == "upstream_connect"


def test_an_upstream_timeout_is_502(alice, alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.OUTBOUND_TIMEOUT = 0.3

    def slow(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.0)
        return json_reply({})

    with LoopbackServer(slow) as upstream:
        server = server_from_document(user=alice, document=items_document(), base_url=upstream.url)
        response = alice_client.post(
            run_url(server, "getItem"), {"arguments": {"id": 1}}, format="json"
        )

    assert response.status_code == 502
    assert response.json()["error"]["details"]["code"] == "upstream_timeout"


def test_a_test_can_be_read_back_by_its_owner_only(alice_client, bob_client, items):
    url = run_url(items, "getItem")
    test_id = alice_client.post(url, {"arguments": {"id": 3}}, format="json").json()["data"][
        "testId"
    ]
    detail = url.removesuffix("/test") + f"/tests/{test_id}"

    mine = alice_client.get(detail)
    theirs = bob_client.get(detail)

    assert mine.status_code == 200
    assert mine.json()["data"]["status"] == "succeeded"
    assert mine.json()["data"]["testId"] == test_id
    assert theirs.status_code == 404


def test_another_users_tool_cannot_be_tested(bob_client, items, upstream):
    response = bob_client.post(run_url(items, "getItem"), {"arguments": {"id": 1}}, format="json")

    assert response.status_code == 404
    assert upstream.requests == []


def test_a_tool_test_is_a_tool_call_refused_at_the_quota(alice_client, items, upstream, settings):
    from usage.limits import reset_local_state

    settings.PLAN_ENFORCEMENT = True
    settings.USAGE_STATE_CACHE_SECONDS = 0
    settings.PLANS = {**settings.PLANS, "free": {**settings.PLANS["free"], "included_calls": 1}}
    reset_local_state()
    first = alice_client.post(run_url(items, "getItem"), {"arguments": {"id": 1}}, format="json")
    assert first.status_code == 200
    calls_upstream = len(upstream.requests)

    refused = alice_client.post(run_url(items, "getItem"), {"arguments": {"id": 2}}, format="json")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    error = refused.json()["error"]
    assert error["code"] == "RATE_LIMIT"
    assert error["details"]["reason"] == "quota"
    assert len(upstream.requests) == calls_upstream
    reset_local_state()


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Tasks go to a Redis broker on a port where nothing listens, without retrying."""
    from config.celery import app

    saved = {
        key: app.conf[key]
        for key in (
            "task_always_eager",
            "broker_url",
            "task_publish_retry",
            "broker_connection_timeout",
        )
    }
    app.conf.update(
        task_always_eager=False,
        broker_url="redis://127.0.0.1:9/0",
        task_publish_retry=False,
        broker_connection_timeout=1,
    )
    _forget_broker_connections(app)
    yield
    app.conf.update(saved)
    _forget_broker_connections(app)


def _forget_broker_connections(app) -> None:
    """Celery keeps its producer pool for the broker it first used; a new URL needs a new one."""
    from kombu import pools

    app.pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps its own registry of producer pools per connection: without this, the next
    # test on the first broker gets the pool closed above ("Acquire on closed pool").
    pools.reset()


def test_a_queue_outage_is_503_service_unavailable_with_retry_after(
    alice_client, items, broker_down
):
    response = alice_client.post(run_url(items, "getItem"), {"arguments": {"id": 1}}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["reason"] == "queue_unavailable"
    assert error["details"]["retryAfterSeconds"] == 5
    assert ToolTest.objects.get(id=error["details"]["testId"]).status == "error"
