"""Schemathesis against our own OpenAPI schema (`/api/schema`), served in process over WSGI.

Every operation gets a bounded number of generated requests, positive and negative, sent as
alice with a real local-issuer token. Each response must not be a 5xx, must carry a status the
schema documents for that operation, and must match that status's response schema. The data
alice owns (a spec, a server with tools, an access key, a credential, a tool test) is seeded
before each operation, and its ids are fed to the path parameters and to `specId`/`serverId`
in bodies, so detail routes are exercised on real rows, not only answered with 404. Billing
talks to the fake Stripe on loopback; the webhooks have their secrets set (unsigned fuzz is
refused with 400; signed hostile deliveries are in webhooks/tests/test_hostile_webhooks.py).
Every URL a body carries is pointed at a loopback upstream, and name resolution is fenced to
loopback, so nothing generated can reach the internet.

Deterministic: a fixed seed and derandomised generation, so CI runs the same cases every time.
Run: .venv/bin/pytest core/tests/test_schemathesis.py -p no:warnings
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from billing.testing import FakeStripe, use_fake_stripe
from config.wsgi import application
from core.testing import LoopbackServer, RecordedRequest, json_reply

MAX_EXAMPLES = 25
CLERK_SECRET = "whsec_" + base64.b64encode(b"fuzz-clerk-signing-secret-32byte").decode()
SEED = 20261124

UPSTREAM_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Fuzz upstream", "version": "1.0"},
    "servers": [{"url": "http://127.0.0.1:1"}],
    "paths": {
        "/items/{itemId}": {
            "get": {
                "operationId": "getItem",
                "parameters": [
                    {"name": "itemId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "The item"}},
            }
        },
        "/items": {
            "post": {
                "operationId": "createItem",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "Created"}},
            }
        },
    },
}

config = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "use_after_free": {"enabled": True},
            "ensure_resource_availability": {"enabled": True},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema", application, config=config)


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Refuse to resolve anything but loopback: a fuzzed URL must never reach the internet."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise socket.gaierror(socket.EAI_NONAME, "fuzz run: only loopback resolves")
    return _real_getaddrinfo(host, *args, **kwargs)


_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    def answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if request.path.startswith("/spec"):
            return json_reply(UPSTREAM_SPEC)
        return json_reply({"ok": True, "path": request.path})

    with LoopbackServer(answer) as server:
        yield server


@contextmanager
def keeping_the_test_connection() -> Iterator[None]:
    """Django's request hooks close stale connections; through the bare WSGI handler that would
    close the one holding the test's transaction, so they are off while a case is served (the
    test client does the same around each of its requests)."""
    hooks = (request_started, request_finished)
    for signal in hooks:
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in hooks:
            signal.connect(close_old_connections)


@pytest.fixture
def stripe_fake(settings: Any) -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        use_fake_stripe(settings, fake)
        yield fake


@pytest.fixture
def world(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    alice: Any,
    alice_client: Any,
    upstream: LoopbackServer,
    stripe_fake: FakeStripe,
) -> dict[str, str]:
    """Alice's seeded data; the ids feed the path parameters of the generated requests."""
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.CLERK_WEBHOOK_SECRET = CLERK_SECRET
    settings.OUTBOUND_CONNECT_TIMEOUT = 1.0
    settings.OUTBOUND_TIMEOUT = 3.0
    # Tool tests are queued on commit, which the test transaction never reaches: answer 202 at
    # once rather than wait for a worker that cannot start.
    settings.TOOL_TEST_WAIT_SECONDS = 0.0
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = alice_client.post(path, body, format="json")
        assert response.status_code in (200, 201, 202), response.content
        return response.json()["data"]

    spec = post("/api/specs", {"document": UPSTREAM_SPEC})
    server = post("/api/servers", {"specId": spec["id"], "name": "Fuzz", "baseUrl": upstream.url})
    tools = alice_client.get(f"/api/servers/{server['id']}/tools").json()["data"]
    tool = next(t for t in tools if t["name"] == "getItem")
    key = post(f"/api/servers/{server['id']}/keys", {"name": "fuzz"})
    credential = post(
        "/api/credentials",
        {"serverId": server["id"], "type": "apiKey", "value": "s3cret-fuzz-value",
         "in": "header", "paramName": "X-Api-Key"},
    )  # fmt: skip
    tested = post(
        f"/api/servers/{server['id']}/tools/{tool['id']}/test", {"arguments": {"itemId": "1"}}
    )
    token = post("/api/tokens", {"name": "fuzz"})
    return {
        "token": token["token"],
        "upstream": upstream.url,
        "spec_id": spec["id"],
        "server_id": server["id"],
        "tool_id": tool["id"],
        "key_id": key["id"],
        "credential_id": credential["id"],
        "test_id": tested["testId"],
        "token_id": token["id"],
    }


def _to_loopback(value: Any, upstream: str) -> Any:
    """The same URL with its origin replaced by the loopback upstream's."""
    if not isinstance(value, str):
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return value
    origin = urlsplit(upstream)
    return urlunsplit(parts._replace(scheme=origin.scheme, netloc=origin.netloc))


URL_FIELDS = ("url", "baseUrl", "tokenUrl")


BODY_IDS = {"specId": "spec_id", "serverId": "server_id"}


def _seed_ids(case: schemathesis.Case, world: dict[str, str]) -> None:
    for name in list(case.path_parameters or {}):
        if name in world:
            case.path_parameters[name] = world[name]
    if isinstance(case.body, dict):
        for field, name in BODY_IDS.items():
            if isinstance(case.body.get(field), str):
                case.body[field] = world[name]


def _fence_urls(case: schemathesis.Case, world: dict[str, str]) -> None:
    if isinstance(case.body, dict):
        for field in URL_FIELDS:
            if field in case.body:
                case.body[field] = _to_loopback(case.body[field], world["upstream"])


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, world: dict[str, str]) -> None:
    _seed_ids(case, world)
    _fence_urls(case, world)
    with keeping_the_test_connection():
        response = case.call_and_validate(headers={"Authorization": f"Bearer {world['token']}"})
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        json.loads(response.text)  # every error is JSON (the envelope or a webhook's own)


STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 8


def test_api_workflows_conform_to_the_schema(world: dict[str, str]) -> None:
    """Chains of calls along the links Schemathesis infers (create a spec, then a server from
    it, then its keys and tools...), each response checked like the single calls above."""
    authorization = {"Authorization": f"Bearer {world['token']}"}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            _fence_urls(case, world)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": authorization}

        def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
            with keeping_the_test_connection():
                return case.call(**kwargs)

    Workflow.run(
        settings=hypothesis_settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
