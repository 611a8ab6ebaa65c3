"""The credential types registry: what each type declares is what the API enforces, an
unknown type is refused loudly, and a type defined in one place (here, in the test) is taken
by the API and applied to real upstream calls, signing schemes and per-caller ones included."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from core.http import upstream_options
from core.testing import LoopbackServer, RecordedRequest, json_reply
from credentials import services
from credentials.injection import forget_cached, provider
from credentials.models import Credential
from credentials.testing import call, secured_document, server_from_document, tool_named
from credentials.types import CredentialType, Secret, UnknownCredentialType, registry
from credentials.types.base import SecretField
from tools.calling import (
    AuthParts,
    CallContext,
    CallTarget,
    CredentialUnavailable,
    OutgoingRequest,
    execute_call,
)

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:9"

# Every kind of security scheme, and the types the API must take for it.
SCHEMES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "headerKey": ({"type": "apiKey", "in": "header", "name": "X-API-Key"}, {"apiKey"}),
    "cookieKey": ({"type": "apiKey", "in": "cookie", "name": "session"}, {"apiKey"}),
    "bearerAuth": ({"type": "http", "scheme": "bearer"}, {"bearer"}),
    "basicAuth": ({"type": "http", "scheme": "basic"}, {"basic"}),
    "digestAuth": ({"type": "http", "scheme": "digest"}, set()),
    "oauth": (
        {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": f"{BASE}/token", "scopes": {}}},
        },
        {"bearer", "oauth2ClientCredentials"},
    ),
    "implicit": (
        {"type": "oauth2", "flows": {"implicit": {"authorizationUrl": f"{BASE}/a", "scopes": {}}}},
        {"bearer"},
    ),
    "authCode": (
        {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{BASE}/a",
                    "tokenUrl": f"{BASE}/token",
                    "scopes": {},
                }
            },
        },
        {"bearer", "oauth2AuthorizationCode"},
    ),
    "oidc": ({"type": "openIdConnect", "openIdConnectUrl": f"{BASE}/.well-known"}, {"bearer"}),
    "mtls": ({"type": "mutualTLS"}, set()),
}
SECRETS = {
    "apiKey": {"value": "k-1234"},
    "bearer": {"value": "t-1234"},
    "basic": {"username": "ann", "password": "pw-1234"},
    "oauth2ClientCredentials": {"clientId": "cid", "clientSecret": "cs-1234"},
    "oauth2AuthorizationCode": {"clientId": "cid", "clientSecret": "cs-1234"},
}


def every_scheme_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Schemes", "version": "1"},
        "paths": {"/things": {"get": {"responses": {"200": {"description": "ok"}}}}},
        "components": {
            "securitySchemes": {name: definition for name, (definition, _) in SCHEMES.items()}
        },
    }


def create(client, server, **body: Any):
    return client.post("/api/credentials", {"serverId": str(server.id), **body}, format="json")


def errors_of(response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    return response.json()["error"]["details"]


# --- The built-in types: declarations are what the API enforces -------------------------------


def test_the_registry_lists_the_five_types_the_api_spells():
    assert sorted(registry.names()) == sorted(SECRETS)
    assert {kind.type: kind.label for kind in registry.all()} == {
        "apiKey": "API key",
        "bearer": "Bearer token",
        "basic": "HTTP basic",
        "oauth2ClientCredentials": "OAuth2 client credentials",
        "oauth2AuthorizationCode": "OAuth2 authorization code (each caller's own account)",
    }


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_each_scheme_takes_exactly_the_types_that_declare_they_serve_it(
    alice, alice_client, scheme
):
    definition, expected = SCHEMES[scheme]
    server = server_from_document(user=alice, document=every_scheme_document(), base_url=BASE)

    accepted = set()
    for kind in registry.names():
        response = create(alice_client, server, scheme=scheme, type=kind, **SECRETS[kind])
        if response.status_code == 201:
            accepted.add(kind)
            services.credential_delete(user=alice, credential_id=response.json()["data"]["id"])
        else:
            assert "type" in errors_of(response)

    assert registry.fitting(definition) == sorted(expected)
    assert accepted == expected


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_declared_secret_field_is_required_by_the_api(alice, alice_client, kind):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )
    scheme = {
        "apiKey": "headerKey",
        "bearer": "bearerAuth",
        "basic": "basicAuth",
        "oauth2ClientCredentials": "oauth",
        "oauth2AuthorizationCode": "authCode",
    }[kind]
    declared = registry.get(kind).secret_fields

    assert [field.name for field in declared] == list(SECRETS[kind])
    for field in declared:
        without = {name: value for name, value in SECRETS[kind].items() if name != field.name}
        details = errors_of(create(alice_client, server, scheme=scheme, type=kind, **without))
        assert details[field.name] == [f"Required for type {kind}."]
        if not field.allow_blank:
            blank = {**SECRETS[kind], field.name: ""}
            assert field.name in errors_of(
                create(alice_client, server, scheme=scheme, type=kind, **blank)
            )
    assert Credential.objects.count() == 0


def test_a_blank_username_is_legal_in_basic_but_a_colon_is_not(alice, alice_client):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )
    colon = create(
        alice_client, server, scheme="basicAuth", type="basic", username="a:b", password="pw"
    )
    blank = create(
        alice_client, server, scheme="basicAuth", type="basic", username="", password="p"
    )

    assert errors_of(colon) == {"username": ["Must not contain ':' (HTTP basic authentication)."]}
    assert blank.status_code == 201


@pytest.mark.parametrize(
    ("kind", "field_values", "owner"),
    [
        ("bearer", {"tokenUrl": f"{BASE}/t"}, "oauth2ClientCredentials"),
        ("basic", {"scopes": ["read"]}, "oauth2ClientCredentials"),
        ("bearer", {"authorizationUrl": f"{BASE}/a"}, "oauth2AuthorizationCode"),
        ("bearer", {"in": "header", "paramName": "X-Key"}, "apiKey"),
    ],
)
def test_public_fields_are_refused_for_types_that_do_not_declare_them(
    alice, alice_client, kind, field_values, owner
):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )

    details = errors_of(
        create(alice_client, server, scheme="oauth", type=kind, **SECRETS[kind], **field_values)
    )

    first = next(iter(field_values))
    owners = [
        kind.type for kind in registry.all() if any(first in g.names for g in kind.public_fields)
    ]
    assert details == {first: [f"Only for type {' or '.join(owners)}."]}
    assert any(first in group.names for group in registry.get(owner).public_fields)


def test_fields_declared_together_must_come_together(alice, alice_client):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )

    details = errors_of(
        create(alice_client, server, type="apiKey", value="k-1", scheme="headerKey", paramName="K")
    )

    assert details == {"in": ["'in' and 'paramName' go together."]}


def documented_shapes(client) -> list[dict]:
    """The shapes of POST /api/credentials's body in our OpenAPI schema, as served now."""
    schema = client.get("/api/schema?format=json").json()
    return schema["components"]["schemas"]["CredentialCreateRequest"]["oneOf"]


def documented_properties(client) -> dict[str, dict]:
    properties: dict[str, dict] = {}
    for shape in documented_shapes(client):
        for name, prop in shape["properties"].items():
            if name == "type":
                properties.setdefault("type", {"enum": []})["enum"] += prop["enum"]
            else:
                properties.setdefault(name, prop)
    return properties


def test_the_openapi_schema_offers_every_declared_field_and_type(client):
    shapes = documented_shapes(client)
    by_type: dict[str, list[dict]] = {}
    for shape in shapes:
        (name,) = shape["properties"]["type"]["enum"]
        by_type.setdefault(name, []).append(shape)

    assert list(by_type) == registry.names()
    for kind in registry.all():
        offered = {prop for shape in by_type[kind.type] for prop in shape["properties"]}
        for shape in by_type[kind.type]:
            for secret in kind.secret_fields:
                assert shape["properties"][secret.name]["writeOnly"] is True
                assert secret.name in shape["required"]
        for group in kind.public_fields:
            assert set(group.names) <= offered


# --- An unknown type -------------------------------------------------------------------------


def test_an_unknown_type_raises_a_clear_error():
    with pytest.raises(UnknownCredentialType) as caught:
        registry.get("hawk")

    assert "Unknown credential type 'hawk'" in str(caught.value)
    assert "apiKey" in str(caught.value)


def test_the_service_refuses_an_unknown_type_and_stores_nothing(alice):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )

    with pytest.raises(UnknownCredentialType):
        services.credential_create(
            user=alice, server_id=server.id, scheme="oauth", type="hawk", secret={"value": "x"}
        )

    assert Credential.objects.count() == 0


def test_the_api_refuses_an_unknown_type(alice, alice_client):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )

    details = errors_of(create(alice_client, server, scheme="oauth", type="hawk", value="x-1"))

    assert list(details) == ["type"]


def test_a_stored_credential_of_an_unknown_type_fails_its_calls_instead_of_going_out(
    alice, upstream
):
    server = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=upstream.url
    )
    services.credential_create(
        user=alice, server_id=server.id, scheme="oauth", type="bearer", secret={"value": "t-1"}
    )
    # A type that was removed from the code after the credential was stored.
    Credential.objects.update(type="hawk")

    outcome = call(server, "viaOauth")

    assert outcome.error_code == "credential_unreadable"
    assert "Unknown credential type 'hawk'" in outcome.result["content"][0]["text"]
    assert upstream.requests == []


# --- A type added in one place ---------------------------------------------------------------

SIGNED_PATH = "/orders"


def signature(key: str, method: str, url: str, body: bytes) -> str:
    message = method.encode() + b"\n" + url.encode() + b"\n" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class HmacBody(CredentialType):
    """Signs the method, URL and body with a shared key, in the header its scheme names."""

    type = "hmacBodyTest"
    label = "HMAC of the body (test)"
    secret_fields = (SecretField("signingKey", describes="HMAC key"),)

    def serves(self, definition: Mapping[str, Any]) -> bool:
        return definition.get("type") == "apiKey" and definition.get("in") == "header"

    async def apply(
        self, request: OutgoingRequest, credential: Secret, context: CallContext
    ) -> AuthParts:
        signed = signature(
            credential.values["signingKey"], request.method, request.url, request.body or b""
        )
        return AuthParts(
            headers=((credential.definition["name"], signed),), secrets=credential.secrets
        )


class PerCaller(CredentialType):
    """A token per calling user, as an OAuth2 authorization-code type would hold them."""

    type = "perCallerTest"
    label = "Per-caller token (test)"
    secret_fields = (SecretField("tokenPrefix"),)

    def serves(self, definition: Mapping[str, Any]) -> bool:
        return definition.get("type") == "http" and definition.get("scheme") == "bearer"

    async def apply(
        self, request: OutgoingRequest, credential: Secret, context: CallContext
    ) -> AuthParts:
        if context.caller_id is None:
            raise CredentialUnavailable("credential_needs_user", "Sign in to use this tool.")
        token = f"{credential.values['tokenPrefix']}-{context.caller_id}"
        return AuthParts(headers=(("Authorization", f"Bearer {token}"),), secrets=(token,))


@pytest.fixture
def registered() -> Iterator[None]:
    for kind in (HmacBody(), PerCaller()):
        registry.register(kind)
    yield
    registry.unregister(HmacBody.type)
    registry.unregister(PerCaller.type)


def signed_document() -> dict[str, Any]:
    item = {"type": "object", "properties": {"item": {"type": "string"}}}
    body = {"content": {"application/json": {"schema": item}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Signed", "version": "1"},
        "security": [{"signed": []}],
        "paths": {
            SIGNED_PATH: {
                "post": {
                    "operationId": "createOrder",
                    "parameters": [{"name": "dry", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": body,
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/me": {
                "get": {
                    "operationId": "me",
                    "security": [{"user": []}],
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "signed": {"type": "apiKey", "in": "header", "name": "X-Signature"},
                "user": {"type": "http", "scheme": "bearer"},
            }
        },
    }


class SigningUpstream:
    """An upstream that answers 200 only to requests signed with KEY."""

    KEY = "hmac-key-5e1f0a"

    def __init__(self) -> None:
        self.verdicts: list[bool] = []
        self.server = LoopbackServer(self.handle)

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if request.path.startswith("/me"):
            return json_reply({"authorization": request.headers.get("Authorization")})
        url = f"{self.server.url}{request.path}"
        expected = signature(self.KEY, request.method, url, request.body)
        valid = hmac.compare_digest(request.headers.get("X-Signature", ""), expected)
        self.verdicts.append(valid)
        return json_reply({"signed": valid}, status=200 if valid else 401)


@pytest.fixture
def signing(alice, settings) -> Iterator[tuple[SigningUpstream, Any]]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    upstream = SigningUpstream()
    with upstream.server:
        server = server_from_document(
            user=alice, document=signed_document(), base_url=upstream.server.url
        )
        yield upstream, server


def test_a_type_registered_in_one_place_is_validated_by_the_api(
    registered, alice_client, signing, client
):
    _, server = signing

    missing = create(alice_client, server, scheme="signed", type="hmacBodyTest")
    unfit = create(alice_client, server, scheme="user", type="hmacBodyTest", signingKey="k")
    bearer = create(alice_client, server, scheme="signed", type="bearer", value="t-1")
    created = create(
        alice_client, server, scheme="signed", type="hmacBodyTest", signingKey=SigningUpstream.KEY
    )
    request = documented_properties(client)

    assert errors_of(missing) == {"signingKey": ["Required for type hmacBodyTest."]}
    assert errors_of(unfit)["type"] == [
        "Scheme 'user' (http bearer) takes a credential of type bearer or perCallerTest."
    ]
    assert errors_of(bearer)["type"] == [
        "Scheme 'signed' (apiKey) takes a credential of type apiKey or hmacBodyTest."
    ]
    assert created.status_code == 201, created.content
    assert created.json()["data"]["type"] == "hmacBodyTest"
    assert created.json()["data"]["name"] == "signed"
    assert "hmacBodyTest" in request["type"]["enum"]
    assert request["signingKey"]["description"] == "The HMAC key."


def test_a_type_registered_in_one_place_signs_real_upstream_requests(
    registered, alice, alice_client, signing
):
    upstream, server = signing
    create(
        alice_client, server, scheme="signed", type="hmacBodyTest", signingKey=SigningUpstream.KEY
    )

    outcome = call(server, "createOrder", {"dry": "yes", "item": "tea"})

    assert outcome.status_code == 200, outcome.result
    assert upstream.verdicts == [True]
    assert b'"item"' in upstream.server.requests[0].body
    assert "dry=yes" in upstream.server.requests[0].path
    assert outcome.request["headers"]["X-Signature"] == "[REDACTED]"


def test_a_wrong_key_fails_the_upstreams_check(registered, alice, alice_client, signing):
    upstream, server = signing
    create(alice_client, server, scheme="signed", type="hmacBodyTest", signingKey="not-the-key")

    outcome = call(server, "createOrder", {"item": "tea"})

    assert outcome.status_code == 401
    assert upstream.verdicts == [False]


def test_a_type_is_resolved_when_credentials_load_not_on_each_call(
    registered, alice, alice_client, signing
):
    upstream, server = signing
    create(
        alice_client, server, scheme="signed", type="hmacBodyTest", signingKey=SigningUpstream.KEY
    )
    call(server, "createOrder", {"item": "tea"})

    registry.unregister(HmacBody.type)
    try:
        cached = call(server, "createOrder", {"item": "tea"})
        forget_cached()
        reloaded = call(server, "createOrder", {"item": "tea"})
    finally:
        registry.register(HmacBody())

    assert cached.status_code == 200
    assert reloaded.error_code == "credential_unreadable"
    assert upstream.verdicts == [True, True]


def test_apply_gets_the_calling_user_for_per_caller_credentials(
    registered, alice, alice_client, signing
):
    upstream, server = signing
    create(alice_client, server, scheme="user", type="perCallerTest", tokenPrefix="tok")
    target = CallTarget.for_tool(tool_named(server, "me"))

    def call_as(caller_id: str | None):
        return async_to_sync(execute_call)(
            target, {}, provider=provider, options=upstream_options(), caller_id=caller_id
        )

    as_bob = call_as("user-bob")
    anonymous = call_as(None)

    assert upstream.server.requests[0].headers["Authorization"] == "Bearer tok-user-bob"
    assert as_bob.status_code == 200
    assert anonymous.error_code == "credential_needs_user"
    assert len(upstream.server.requests) == 1
