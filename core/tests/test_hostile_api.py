"""Hostile input on the REST API: oversized and deeply nested bodies, wrong types, unicode edge
cases, other users' ids and malformed ids. Each gets a clear 4xx in the envelope, nothing is
stored half-way, and no stack trace, file path or secret shows in the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from credentials.models import Credential
from servers.models import AccessKey, Server
from specs.models import Spec
from tools.models import Tool
from tooltests.models import ToolTest

STRIPE_KEY = "sk_test_hostile_never_shown_0123456789"

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Hostile upstream", "version": "1.0"},
    "servers": [{"url": "https://upstream.example/v1"}],
    "paths": {
        "/items/{itemId}": {
            "get": {
                "operationId": "getItem",
                "parameters": [
                    {"name": "itemId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "The item"}},
            }
        }
    },
}


def assert_clean(response: Any) -> None:
    """A JSON error envelope without a stack trace, a file path or a secret in it."""
    text = response.content.decode("utf-8", "replace")
    body = json.loads(text)
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    for leak in (
        "Traceback",
        'File "',
        str(Path(django_settings.BASE_DIR)),
        ".venv",
        django_settings.SECRET_KEY,
        STRIPE_KEY,
    ):
        assert leak not in text


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert_clean(response)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def stored_rows() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Spec, Server, Tool, AccessKey, Credential, ToolTest, ApiToken)
    }


@pytest.fixture(autouse=True)
def _secrets_in_settings(settings: Any) -> None:
    # A secret configured, so that any leak of it would show.
    settings.STRIPE_SECRET_KEY = STRIPE_KEY


def make_world(client: APIClient) -> dict[str, str]:
    """One of everything, owned by the client's user, made through the API."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, body, format="json")
        assert response.status_code in (200, 201, 202), response.content
        return response.json()["data"]

    spec = post("/api/specs", {"document": DOCUMENT})
    server = post("/api/servers", {"specId": spec["id"], "name": "Hostile"})
    tool = client.get(f"/api/servers/{server['id']}/tools").json()["data"][0]
    key = post(f"/api/servers/{server['id']}/keys", {"name": "laptop"})
    credential = post(
        "/api/credentials", {"serverId": server["id"], "type": "bearer", "value": "upstream-tok"}
    )
    test = post(
        f"/api/servers/{server['id']}/tools/{tool['id']}/test", {"arguments": {"itemId": "1"}}
    )
    token = post("/api/tokens", {"name": "script"})
    return {
        "spec": spec["id"],
        "server": server["id"],
        "tool": tool["id"],
        "key": key["id"],
        "credential": credential["id"],
        "test": test["testId"],
        "token": token["id"],
    }


@pytest.fixture
def settle_tool_tests(settings: Any) -> None:
    # A tool test is queued on commit, which the test transaction never reaches: don't wait.
    settings.TOOL_TEST_WAIT_SECONDS = 0.0


# -- sizes and nesting ------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_and_stores_nothing(alice_client, settings):
    settings.REQUEST_MAX_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    before = stored_rows()

    response = alice_client.post("/api/specs", {"content": "x" * 10_000}, format="json")

    error_of(response, 413, "PAYLOAD_TOO_LARGE")
    assert stored_rows() == before


def test_a_lying_content_length_is_400(alice_client):
    response = alice_client.generic(
        "POST", "/api/specs", b"{}", content_type="application/json", CONTENT_LENGTH="lots"
    )
    error_of(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"document":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}",
        '{"name":"n","content":' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["arrays", "objects-in-a-field", "arrays-in-a-field"],
)
def test_a_body_nested_100k_deep_is_400_not_a_recursion_error(alice_client, body):
    response = alice_client.post("/api/specs", body, content_type="application/json")

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "nested too deeply" in error["details"]["body"][0]
    assert Spec.objects.count() == 0


@pytest.mark.parametrize(
    "content",
    ["[" * 5_000 + "]" * 5_000, "a: " + "[" * 5_000 + "]" * 5_000, "a:\n" + " b:\n" * 2_000],
    ids=["json", "yaml-flow", "yaml-block"],
)
def test_a_spec_text_nested_too_deep_is_a_400_with_its_problem(alice_client, content):
    response = alice_client.post("/api/specs", {"content": content}, format="json")

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["details"]["problems"]
    assert Spec.objects.count() == 0


def test_a_document_within_the_parser_limit_but_too_deep_for_a_spec_is_400(alice_client):
    nested: Any = "leaf"
    for _ in range(400):
        nested = {"a": nested}
    response = alice_client.post(
        "/api/specs", {"document": {**DOCUMENT, "x-deep": nested}}, format="json"
    )

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "nested more than 256 levels" in error["message"]


@pytest.mark.parametrize(
    "body",
    [b'{"name": ', b"\xff\xfe{}", b'{"content": 1' + b"0" * 5000 + b"}", b"null", b"[]", b'"x"'],
    ids=["truncated", "not-utf8", "huge-integer", "null", "array", "string"],
)
def test_malformed_or_non_object_json_is_400(alice_client, body):
    response = alice_client.post("/api/specs", body, content_type="application/json")

    error_of(response, 400, "VALIDATION_ERROR")
    assert Spec.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_a_body_that_is_not_json_is_415(alice_client, content_type):
    response = alice_client.generic("POST", "/api/tokens", b"name=x", content_type=content_type)

    error_of(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert ApiToken.objects.count() == 0


# -- wrong types ------------------------------------------------------------------------------

NOT_A_STRING = [{"a": 1}, [1], True]
# An integer is a UUID to DRF (UUID(int=...)): a clear 404, so not listed here.
NOT_A_UUID = ["nope", "", {"a": 1}, [1], "00000000-0000-0000-0000-00000000000g"]
NOT_A_BOOLEAN = ["maybe", {"a": 1}, [True], 2]
NOT_AN_OBJECT = ["{}", 1, [1], True]


def _cases(endpoint: str, base: dict[str, Any], fields: dict[str, list[Any]]) -> list[Any]:
    return [
        pytest.param(endpoint, base, field, value, id=f"{endpoint}:{field}={json.dumps(value)}")
        for field, values in fields.items()
        for value in values
    ]


WRONG_TYPES = [
    *_cases(
        "specs",
        {"name": "n", "document": DOCUMENT},
        {
            "name": NOT_A_STRING,
            "description": NOT_A_STRING,
            "content": [{"a": 1}, [1], True],
            "document": NOT_AN_OBJECT,
            "url": ["not a url", 1, {"a": 1}, "file:///etc/passwd", "ftp://x.example/a"],
        },
    ),
    *_cases(
        "servers",
        {"specId": "SPEC", "name": "n"},
        {
            "specId": NOT_A_UUID,
            "name": NOT_A_STRING,
            "slug": [*NOT_A_STRING, "has space", "UPPER/slash", "😀", "a" * 300],
            "description": NOT_A_STRING,
            "baseUrl": [*NOT_A_STRING, "not a url", "javascript:alert(1)"],
            "operations": ["getItem", {"a": 1}, [{"a": 1}], [None]],
        },
    ),
    *_cases(
        "keys",
        {"name": "n"},
        {"name": [*NOT_A_STRING, "", "x" * 101]},
    ),
    *_cases(
        "credentials",
        {"serverId": "SERVER", "type": "bearer", "value": "v"},
        {
            "serverId": NOT_A_UUID,
            "type": [*NOT_A_STRING, "password", 1],
            "value": NOT_A_STRING,
            "name": NOT_A_STRING,
        },
    ),
    *_cases(
        "tokens",
        {"name": "n"},
        {"name": [*NOT_A_STRING, ""], "expiresAt": ["tomorrow", 1, {"a": 1}, True]},
    ),
    *_cases(
        "tool",
        {},
        {
            "enabled": NOT_A_BOOLEAN,
            "name": [*NOT_A_STRING, "has space", "x" * 65, "ünïcode"],
            "description": NOT_A_STRING,
        },
    ),
    *_cases("tool-test", {"arguments": {}}, {"arguments": NOT_AN_OBJECT}),
    *_cases(
        "budget-cap",
        {"budgetCap": 10},
        {"budgetCap": ["ten", -1, 10_001, {"a": 1}, [1], True, "NaN", "Infinity"]},
    ),
]


def _request(world: dict[str, str], endpoint: str) -> tuple[str, str]:
    server, tool = world["server"], world["tool"]
    return {
        "specs": ("post", "/api/specs"),
        "servers": ("post", "/api/servers"),
        "keys": ("post", f"/api/servers/{server}/keys"),
        "credentials": ("post", "/api/credentials"),
        "tokens": ("post", "/api/tokens"),
        "tool": ("patch", f"/api/servers/{server}/tools/{tool}"),
        "tool-test": ("post", f"/api/servers/{server}/tools/{tool}/test"),
        "budget-cap": ("put", "/api/billing/budget-cap"),
    }[endpoint]


@pytest.mark.parametrize(("endpoint", "base", "field", "value"), WRONG_TYPES)
def test_a_wrong_type_in_any_field_is_a_400_naming_it(
    alice_client, settle_tool_tests, endpoint, base, field, value
):
    world = make_world(alice_client)
    body = {
        name: {"SPEC": world["spec"], "SERVER": world["server"]}.get(given, given)
        if isinstance(given, str)
        else given
        for name, given in base.items()
    }
    body[field] = value
    tool_before = Tool.objects.values().get(pk=world["tool"])
    before = stored_rows()
    method, path = _request(world, endpoint)

    response = getattr(alice_client, method)(path, body, format="json")

    error = error_of(response, 400, "VALIDATION_ERROR")
    # A field's own error, or (for a spec document) the spec problem naming it.
    named = [*error["details"], error["message"]]
    assert any(name.startswith(field) or field in name for name in named), error
    assert stored_rows() == before
    assert Tool.objects.values().get(pk=world["tool"]) == tool_before


# -- unicode ------------------------------------------------------------------------------------

UNSTORABLE = ["a\u0000b", "a\\ud800b", "\\udfff", "a\\ud83db"]


@pytest.mark.parametrize("text", UNSTORABLE, ids=["nul", "high-surrogate", "low", "half-emoji"])
@pytest.mark.parametrize(
    "endpoint",
    ["specs-name", "specs-title", "specs-deep-key", "servers-name", "keys", "tokens", "tool-name"],
)
def test_nul_and_lone_surrogates_are_refused_everywhere_with_a_400(
    alice_client, settle_tool_tests, endpoint, text
):
    world = make_world(alice_client)
    before = stored_rows()
    # Raw JSON text, so that "\ud800" reaches the server as the escape a hostile client sends.
    literal = json.dumps(text).replace("\\\\u", "\\u")
    raw_document = json.dumps(DOCUMENT)
    method, path, body = {
        "specs-name": ("post", "/api/specs", f'{{"name": {literal}, "document": {raw_document}}}'),
        "specs-title": (
            "post",
            "/api/specs",
            '{"document": ' + raw_document.replace('"Hostile upstream"', literal) + "}",
        ),
        "specs-deep-key": (
            "post",
            "/api/specs",
            '{"document": ' + raw_document[:-1] + f', "x-extra": {{{literal}: [{literal}]}}}}}}',
        ),
        "servers-name": (
            "post",
            "/api/servers",
            f'{{"specId": "{world["spec"]}", "name": {literal}}}',
        ),
        "keys": ("post", f"/api/servers/{world['server']}/keys", f'{{"name": {literal}}}'),
        "tokens": ("post", "/api/tokens", f'{{"name": {literal}}}'),
        "tool-name": (
            "patch",
            f"/api/servers/{world['server']}/tools/{world['tool']}",
            f'{{"description": {literal}}}',
        ),
    }[endpoint]

    response = alice_client.generic(
        method.upper(), path, body.encode("utf-8", "surrogatepass"), "application/json"
    )

    error_of(response, 400, "VALIDATION_ERROR")
    assert stored_rows() == before


def test_tool_test_arguments_with_a_lone_surrogate_are_refused(alice_client, settle_tool_tests):
    world = make_world(alice_client)
    path = f"/api/servers/{world['server']}/tools/{world['tool']}/test"
    before = stored_rows()

    response = alice_client.generic(
        "POST", path, b'{"arguments": {"itemId": "a\\ud800"}}', "application/json"
    )

    error_of(response, 400, "VALIDATION_ERROR")
    assert stored_rows() == before


@pytest.mark.parametrize(
    "name",
    ["\u202eevil.exe\u202c", "שלום עולם", "🦄🚀 4-byte", "e\u0301 combining", "\u200b\ufeffzero"],
    ids=["rtl-override", "hebrew", "emoji", "combining", "zero-width"],
)
def test_rtl_emoji_and_odd_but_valid_text_round_trips_exactly(alice_client, name):
    spec = alice_client.post("/api/specs", {"document": DOCUMENT, "name": name}, format="json")
    assert spec.status_code == 201, spec.content
    server = alice_client.post(
        "/api/servers", {"specId": spec.json()["data"]["id"], "name": name}, format="json"
    )
    assert server.status_code == 201, server.content
    data = server.json()["data"]

    assert alice_client.get(f"/api/servers/{data['id']}").json()["data"]["name"] == name
    assert (
        alice_client.get(f"/api/specs/{spec.json()['data']['id']}").json()["data"]["name"] == name
    )
    assert data["slug"].isascii()


@pytest.mark.parametrize("slug", ["🦄", "שלום", "a\u202eb", "caf\u00e9", "a/b", "../x", "a%2Fb"])
def test_a_slug_must_be_url_safe_ascii(alice_client, slug):
    spec = alice_client.post("/api/specs", {"document": DOCUMENT}, format="json").json()["data"]

    response = alice_client.post(
        "/api/servers", {"specId": spec["id"], "name": "n", "slug": slug}, format="json"
    )

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "slug" in error["details"]
    assert Server.objects.count() == 0


# -- other users' ids ---------------------------------------------------------------------------

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/specs/{spec}", None),
    ("PATCH", "/api/specs/{spec}", {"name": "taken over"}),
    ("DELETE", "/api/specs/{spec}", None),
    ("GET", "/api/specs/{spec}/document", None),
    ("GET", "/api/specs/{spec}/document?format=original", None),
    ("GET", "/api/servers/{server}", None),
    ("PATCH", "/api/servers/{server}", {"name": "taken over", "visibility": "public"}),
    ("DELETE", "/api/servers/{server}", None),
    ("GET", "/api/servers/{server}/keys", None),
    ("POST", "/api/servers/{server}/keys", {"name": "backdoor"}),
    ("GET", "/api/servers/{server}/keys/{key}", None),
    ("PATCH", "/api/servers/{server}/keys/{key}", {"scopes": ["tools:call"], "tools": None}),
    ("DELETE", "/api/servers/{server}/keys/{key}", None),
    ("GET", "/api/servers/{server}/tools", None),
    ("PATCH", "/api/servers/{server}/tools/{tool}", {"enabled": False}),
    ("POST", "/api/servers/{server}/tools/{tool}/test", {"arguments": {"itemId": "1"}}),
    ("GET", "/api/servers/{server}/tools/{tool}/tests/{test}", None),
    ("GET", "/api/credentials?serverId={server}", None),
    ("POST", "/api/credentials", {"serverId": "{server}", "type": "bearer", "value": "mine"}),
    ("DELETE", "/api/credentials/{credential}", None),
    ("DELETE", "/api/tokens/{token}", None),
    ("POST", "/api/servers", {"specId": "{spec}", "name": "from a stolen spec"}),
    # Mixed: the attacker's own server with the victim's child ids.
    ("GET", "/api/servers/{own_server}/keys/{key}", None),
    ("PATCH", "/api/servers/{own_server}/keys/{key}", {"name": "mine now"}),
    ("DELETE", "/api/servers/{own_server}/keys/{key}", None),
    ("PATCH", "/api/servers/{own_server}/tools/{tool}", {"enabled": False}),
    ("POST", "/api/servers/{own_server}/tools/{tool}/test", {"arguments": {"itemId": "1"}}),
    ("GET", "/api/servers/{own_server}/tools/{tool}/tests/{test}", None),
]


def _fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, dict):
        return {key: _fill(value, ids) for key, value in template.items()}
    return template


def _snapshot(user: User) -> list[Any]:
    return [
        list(Spec.objects.filter(user=user).values("id", "name", "updated_at")),
        list(Server.objects.filter(user=user).values()),
        list(Tool.objects.filter(server__user=user).values()),
        list(AccessKey.objects.filter(server__user=user).values("id", "revoked_at")),
        list(Credential.objects.filter(server__user=user).values("id", "updated_at")),
        list(ToolTest.objects.filter(user=user).values("id", "status")),
        list(ApiToken.objects.filter(user=user).values("id", "revoked_at")),
    ]


@pytest.fixture
def victim_and_attacker(alice, bob, client_for, settle_tool_tests):
    victim = make_world(client_for(bob))
    attacker = make_world(client_for(alice))
    return victim, attacker


@pytest.mark.parametrize(
    ("method", "route", "body"), ROUTES, ids=[f"{m} {r}" for m, r, _ in ROUTES]
)
def test_another_users_ids_are_404_everywhere_and_change_nothing(
    alice_client, bob, victim_and_attacker, method, route, body
):
    victim, attacker = victim_and_attacker
    ids = {**victim, "own_server": attacker["server"]}
    before = _snapshot(bob)

    response = alice_client.generic(
        method, _fill(route, ids), json.dumps(_fill(body, ids) or {}), "application/json"
    )

    error = error_of(response, 404, "NOT_FOUND")
    assert not any(value in json.dumps(error) for value in victim.values())
    assert _snapshot(bob) == before


# -- malformed ids --------------------------------------------------------------------------------

MALFORMED_IDS = ["not-a-uuid", "1", "%00", "..%2F..%2Fadmin", "%F0%9F%A6%84", "a" * 500, "0" * 32]


@pytest.mark.parametrize("bad", MALFORMED_IDS)
@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "/api/specs/{id}"),
        ("DELETE", "/api/servers/{id}"),
        ("POST", "/api/servers/{id}/keys"),
        ("GET", "/api/servers/{id}/tools/{id}/tests/{id}"),
        ("DELETE", "/api/credentials/{id}"),
        ("DELETE", "/api/tokens/{id}"),
    ],
)
def test_a_malformed_id_in_a_path_is_a_404_envelope(alice_client, method, route, bad):
    response = alice_client.generic(method, route.replace("{id}", bad), "{}", "application/json")

    assert response.status_code in (404, 400)
    assert_clean(response)


@pytest.mark.parametrize(
    "query",
    [
        "/api/credentials?serverId=nope",
        "/api/credentials?serverId=%00",
        "/api/logs?serverId=1",
        "/api/logs?toolId=%F0%9F%A6%84",
        "/api/logs?statusCode=abc",
        "/api/logs?from=yesterday",
        "/api/logs?cursor=%00%FF",
        "/api/logs?limit=99999999999999999999999",
        "/api/usage?from=9999-99-99",
        "/api/servers?limit=-1",
        "/api/specs?cursor=" + "A" * 5000,
    ],
)
def test_a_malformed_query_value_is_a_400_naming_it(alice_client, query):
    response = alice_client.get(query)

    error = error_of(response, 400, "VALIDATION_ERROR")
    parameter = query.split("?")[1].split("=")[0]
    assert parameter in error["details"]


@pytest.mark.parametrize(
    "token", ["", "x", "sgp_" + "a" * 5000, "a.b.c", "\u00e9t\u00e9", "sgp_\x00"]
)
def test_a_garbage_token_is_a_clean_401(db, anon_client, token):
    header = f"Bearer {token}".encode().decode("latin-1")
    response = anon_client.get("/api/servers", HTTP_AUTHORIZATION=header)

    error_of(response, 401, "AUTH_ERROR")


def test_unknown_api_paths_answer_a_404_envelope_for_every_method(alice_client):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = alice_client.generic(method, "/api/nothing/here", "{}", "application/json")
        error_of(response, 404, "NOT_FOUND")
