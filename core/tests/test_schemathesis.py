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

A second test sends positive-mode requests only, per operation, and fails when more than a
tenth of them are refused with 400: the schema must state the limits, enums, formats and
required fields the API enforces. What it can only state in words (ids and cursors from earlier
responses, values that depend on stored data, tool arguments, rules tying fields together,
webhook signatures) the test supplies, each with its reason in `_follow_rules_in_words` and
`SIGNERS`.

Deterministic: a fixed seed and derandomised generation, so CI runs the same cases every time.
Run: .venv/bin/pytest core/tests/test_schemathesis.py -p no:warnings
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import schemathesis
import stripe
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from svix.webhooks import Webhook

from billing.testing import FakeStripe, use_fake_stripe
from config.wsgi import application
from core.testing import LoopbackServer, RecordedRequest, json_reply
from usage.serializers import MAX_USAGE_DAYS, parse_moment

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
    post("/api/tokens", {"name": "fuzz-2"})

    def next_cursor(path: str) -> str:
        cursor = alice_client.get(path, {"limit": 1}).json()["pagination"]["nextCursor"]
        assert cursor, path
        return str(cursor)

    return {
        "cursor": next_cursor("/api/tokens"),
        "tool_cursor": next_cursor(f"/api/servers/{server['id']}/tools"),
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


URL_FIELDS = ("url", "baseUrl", "tokenUrl", "authorizationUrl", "revocationUrl")


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


# --- Documented inputs are accepted -------------------------------------------------------------

POSITIVE_EXAMPLES = 30
MAX_REFUSED_FRACTION = 0.1
STRIPE_SECRET = "whsec_test_secret"  # what use_fake_stripe configures


def _sign_stripe(body: bytes, headers: dict[str, str]) -> None:
    headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET
    )


def _sign_clerk(body: bytes, headers: dict[str, str]) -> None:
    now = datetime.now(UTC)
    message_id = f"msg_{uuid.uuid4().hex}"
    headers.update(
        {
            "svix-id": message_id,
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": Webhook(CLERK_SECRET).sign(message_id, now, body.decode()),
        }
    )


# A webhook is only accepted signed over its exact bytes with the deployment's secret: the schema
# names the headers and the rule, and the test signs what it sends the way the provider would.
SIGNERS = {
    "POST /api/webhooks/stripe": _sign_stripe,
    "POST /api/webhooks/clerk": _sign_clerk,
}


KEY_WRITES = ("POST /api/servers/{server_id}/keys", "PATCH /api/servers/{server_id}/keys/{key_id}")


def _follow_rules_in_words(case: schemathesis.Case, world: dict[str, str]) -> None:
    """Make a generated request follow the rules the schema states in words only, because they
    depend on data (a tool's inputSchema, the spec's operations and security schemes, the clock)
    or tie fields together in ways OpenAPI 3.0 cannot express. Everything else stays as
    generated, so the schema's limits, enums, formats and required fields are what is tested."""
    query, body = case.query or {}, case.body if isinstance(case.body, dict) else {}
    label = case.operation.label
    if "cursor" in query:
        # An opaque cursor only ever comes from a previous page's nextCursor: one is fetched.
        query["cursor"] = world["tool_cursor" if label.endswith("/tools") else "cursor"]
    if label.endswith("/test"):
        # What the seeded tool's inputSchema asks for; without a body it would get none.
        case.body, case.media_type = {**body, "arguments": {"itemId": "1"}}, "application/json"
    if label in SIGNERS:
        case.body = _storable(case.body)
    if "document" in body:
        body["document"] = UPSTREAM_SPEC
    if "content" in body:
        body["content"] = json.dumps(UPSTREAM_SPEC)
    if "url" in body:
        body["url"] = f"{world['upstream']}/spec.json"
    if label == "POST /api/servers" and "operations" in body:
        body["operations"] = ["getItem"]
    if label in KEY_WRITES and body.get("tools"):
        # An allowlist names tools of the server: the seeded server's.
        body["tools"] = ["getItem"]
    if label == "POST /api/credentials":
        _fit_the_credential_to_the_spec(body, world)
    if label == "POST /api/tokens" and body.get("expiresAt") is not None:
        body["expiresAt"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _order_the_range(label, query)


def _storable(value: Any) -> Any:
    """The value without NUL characters, which no stored event may hold."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _fit_the_credential_to_the_spec(body: dict[str, Any], world: dict[str, str]) -> None:
    """The seeded spec declares no security scheme: there is no scheme to name, an apiKey says
    where it goes, and an OAuth2 credential brings its token URL."""
    body.pop("scheme", None)
    if body.get("type") == "apiKey" and "in" not in body:
        body.update({"in": "header", "paramName": "X-Api-Key"})
    if body.get("type") in ("oauth2ClientCredentials", "oauth2AuthorizationCode"):
        body.setdefault("tokenUrl", f"{world['upstream']}/token")
    if body.get("type") == "oauth2AuthorizationCode":
        body.setdefault("authorizationUrl", f"{world['upstream']}/authorize")


def _order_the_range(label: str, query: dict[str, Any]) -> None:
    """`from` not after `to`; on usage both or neither, at most a year apart."""
    if label == "GET /api/usage" and ("from" in query) != ("to" in query):
        query.pop("from", None)
        query.pop("to", None)
    if "from" not in query or "to" not in query:
        return
    start, end = (parse_moment(query[name]).at for name in ("from", "to"))
    if start > end:
        query["from"], query["to"] = query["to"], query["from"]
        start, end = end, start
    if label == "GET /api/usage" and (end - start).days >= MAX_USAGE_DAYS:
        query["from"] = query["to"]


def _operations() -> list[Any]:
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation the schema cannot describe is itself a failure
        operations.append(result.ok())
    return operations


@pytest.mark.parametrize("operation", _operations(), ids=lambda operation: operation.label)
def test_documented_inputs_are_mostly_accepted(operation: Any, world: dict[str, str]) -> None:
    """Requests generated from the schema alone (positive mode) must mostly be accepted: a schema
    that leaves out a limit, an enum, a format or a required field lets clients build requests
    the API refuses. Only what the schema states in words is supplied by the test (ids, cursors,
    documents, tool arguments, signatures: see _follow_rules_in_words and SIGNERS)."""
    statuses: list[int] = []
    refused: list[str] = []

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @hypothesis_settings(
        max_examples=POSITIVE_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    def send(case: schemathesis.Case) -> None:
        _follow_rules_in_words(case, world)
        _seed_ids(case, world)
        _fence_urls(case, world)
        headers = {"Authorization": f"Bearer {world['token']}"}
        extra: dict[str, Any] = {}
        signer = SIGNERS.get(operation.label)
        if signer is not None:
            extra["data"] = json.dumps(case.body).encode()
            signer(extra["data"], headers)
        with keeping_the_test_connection():
            response = case.call(headers=headers, **extra)
        statuses.append(response.status_code)
        if response.status_code == 400:
            refused.append(f"{case.query} {case.body!r:.300} -> {response.text[:300]}")

    send()
    assert len(statuses) >= POSITIVE_EXAMPLES // 2, "too few requests generated to judge"
    assert len(refused) <= MAX_REFUSED_FRACTION * len(statuses), (
        f"{operation.label}: {len(refused)} of {len(statuses)} documented inputs refused:\n"
        + "\n".join(refused[:8])
    )
