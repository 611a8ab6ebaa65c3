"""What arrives at a real upstream for each credential type, location and requirement."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest
from asgiref.sync import async_to_sync

from core.http import upstream_options
from core.invalidation import generation_key
from core.testing import RecordedRequest, json_reply, manual_clock
from credentials import injection, services
from credentials.injection import provider
from credentials.models import Credential
from credentials.services import Placement
from credentials.testing import (
    TokenEndpoint,
    bare_document,
    call,
    secured_document,
    server_from_document,
    tool_named,
)
from tools.calling import CallTarget, execute_call

pytestmark = pytest.mark.django_db


def add(user, server, scheme: str, type: str, **secret: str) -> Credential:
    return services.credential_create(
        user=user, server_id=server.id, scheme=scheme, type=type, secret=secret
    )


@pytest.fixture
def secured(alice, upstream):
    document = secured_document("http://127.0.0.1:9/token")
    return server_from_document(user=alice, document=document, base_url=upstream.url)


def test_an_api_key_goes_in_the_header_the_scheme_names(alice, secured, upstream):
    add(alice, secured, "headerKey", "apiKey", value="hk-secret-1")

    outcome = call(secured, "viaHeader")

    assert outcome.status_code == 200
    assert upstream.requests[-1].headers["X-API-Key"] == "hk-secret-1"
    assert outcome.request["headers"]["X-API-Key"] == "[REDACTED]"
    assert "hk-secret-1" not in str(outcome.result) + str(outcome.response)


def test_an_api_key_goes_in_the_query_the_scheme_names(alice, secured, upstream):
    add(alice, secured, "queryKey", "apiKey", value="qk-secret-1")

    outcome = call(secured, "viaQuery")

    assert upstream.requests[-1].path == "/query?api_key=qk-secret-1"
    assert "qk-secret-1" not in outcome.request["url"]
    assert "qk-secret-1" not in str(outcome.result)


def test_an_api_key_goes_in_the_cookie_the_scheme_names(alice, secured, upstream):
    add(alice, secured, "cookieKey", "apiKey", value="ck-secret-1")

    outcome = call(secured, "viaCookie")

    assert upstream.requests[-1].headers["Cookie"] == "session=ck-secret-1"
    assert outcome.request["headers"]["Cookie"] == "[REDACTED]"


def test_a_bearer_token_goes_in_the_authorization_header(alice, secured, upstream):
    add(alice, secured, "bearerAuth", "bearer", value="bt-secret-1")

    call(secured, "viaBearer")

    assert upstream.requests[-1].headers["Authorization"] == "Bearer bt-secret-1"


def test_basic_credentials_go_base64_encoded(alice, secured, upstream):
    add(alice, secured, "basicAuth", "basic", username="ann", password="pw-secret-1")

    outcome = call(secured, "viaBasic")

    expected = base64.b64encode(b"ann:pw-secret-1").decode()
    assert upstream.requests[-1].headers["Authorization"] == f"Basic {expected}"
    assert expected not in str(outcome.result)


def test_an_operation_that_needs_no_security_gets_none(alice, secured, upstream):
    add(alice, secured, "headerKey", "apiKey", value="hk-secret-1")
    add(alice, secured, "bearerAuth", "bearer", value="bt-secret-1")

    call(secured, "isPublic")

    assert "X-API-Key" not in upstream.requests[-1].headers
    assert "Authorization" not in upstream.requests[-1].headers


def test_alternatives_are_tried_in_order_of_what_is_configured(alice, secured, upstream):
    add(alice, secured, "headerKey", "apiKey", value="hk-secret-1")

    call(secured, "either")
    only_second = upstream.requests[-1].headers
    add(alice, secured, "bearerAuth", "bearer", value="bt-secret-1")
    call(secured, "either")
    first_wins = upstream.requests[-1].headers

    assert only_second["X-API-Key"] == "hk-secret-1"
    assert "Authorization" not in only_second
    assert first_wins["Authorization"] == "Bearer bt-secret-1"
    assert "X-API-Key" not in first_wins


def test_a_requirement_of_several_schemes_needs_them_all(alice, secured, upstream):
    add(alice, secured, "bearerAuth", "bearer", value="bt-secret-1")

    call(secured, "both")
    partial = upstream.requests[-1].headers
    add(alice, secured, "headerKey", "apiKey", value="hk-secret-1")
    call(secured, "both")
    complete = upstream.requests[-1].headers

    assert "Authorization" not in partial and "X-API-Key" not in partial
    assert complete["Authorization"] == "Bearer bt-secret-1"
    assert complete["X-API-Key"] == "hk-secret-1"


def test_an_operation_without_a_requirement_gets_every_credential(alice, secured, upstream):
    add(alice, secured, "headerKey", "apiKey", value="hk-secret-1")
    add(alice, secured, "bearerAuth", "bearer", value="bt-secret-1")

    call(secured, "inherited")

    assert upstream.requests[-1].headers["X-API-Key"] == "hk-secret-1"
    assert upstream.requests[-1].headers["Authorization"] == "Bearer bt-secret-1"


def test_a_spec_without_schemes_sends_the_key_where_the_credential_says(alice, upstream):
    server = server_from_document(user=alice, document=bare_document(), base_url=upstream.url)
    services.credential_create(
        user=alice, server_id=server.id, type="apiKey", secret={"value": "own-secret-1"},
        placement=Placement(location="query", param_name="token"),
    )  # fmt: skip

    call(server, "listThings")
    call(server, "open")

    assert upstream.requests[0].path == "/things?token=own-secret-1"
    assert upstream.requests[1].path == "/open"


def test_a_replaced_credential_takes_effect_at_once(alice, secured, upstream):
    old = add(alice, secured, "bearerAuth", "bearer", value="bt-old-1")
    call(secured, "viaBearer")
    services.credential_delete(user=alice, credential_id=old.id)
    add(alice, secured, "bearerAuth", "bearer", value="bt-new-1")

    call(secured, "viaBearer")

    assert upstream.requests[-1].headers["Authorization"] == "Bearer bt-new-1"


def test_another_workers_change_is_seen_within_seconds(alice, secured, upstream):
    add(alice, secured, "bearerAuth", "bearer", value="bt-old-1")
    call(secured, "viaBearer")
    # Another worker replaced the secret: this process only learns of it through the shared
    # version (or the age limit), never through its own in-memory state.
    credential = Credential.objects.get()
    replacement = services.crypto.encrypt(b'{"value": "bt-new-1"}')
    Credential.objects.filter(pk=credential.pk).update(
        key_id=replacement[0], ciphertext=replacement[1]
    )
    from django.core.cache import cache

    cache.set(generation_key(str(secured.id)), "bumped-elsewhere")
    with manual_clock() as clock:
        clock.advance(injection.VERSION_CHECK_SECONDS + 0.05)

        call(secured, "viaBearer")

    assert upstream.requests[-1].headers["Authorization"] == "Bearer bt-new-1"


def test_last_used_is_recorded_without_a_write_per_call(
    alice, secured, upstream, django_assert_max_num_queries
):
    credential = add(alice, secured, "bearerAuth", "bearer", value="bt-secret-1")
    call(secured, "viaBearer")
    first_use = Credential.objects.get(pk=credential.pk).last_used_at

    target = CallTarget.for_tool(tool_named(secured, "viaBearer"))
    with django_assert_max_num_queries(0):
        for _ in range(3):
            async_to_sync(execute_call)(target, {}, provider=provider, options=upstream_options())

    assert first_use is not None
    assert Credential.objects.get(pk=credential.pk).last_used_at == first_use


# --- OAuth2 client credentials -----------------------------------------------------------------


@pytest.fixture
def oauth_server(alice, upstream):
    def make(endpoint: TokenEndpoint):
        document = secured_document(f"{endpoint.server.url}/token")
        server = server_from_document(user=alice, document=document, base_url=upstream.url)
        services.credential_create(
            user=alice, server_id=server.id, scheme="oauth", type="oauth2ClientCredentials",
            secret={"clientId": "cid", "clientSecret": "c-secret"}, scopes=["read"],
        )  # fmt: skip
        return server

    return make


def test_a_client_credentials_token_is_fetched_once_and_reused(oauth_server, upstream):
    endpoint = TokenEndpoint()
    with endpoint.server:
        server = oauth_server(endpoint)
        first = call(server, "viaOauth")
        call(server, "viaOauth")

    token_request = endpoint.server.requests[0]
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
    }
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(
        b"cid:c-secret"
    ).decode("ascii")
    assert endpoint.issued == ["access-1"]
    assert [r.headers["Authorization"] for r in upstream.requests] == ["Bearer access-1"] * 2
    assert first.request["headers"]["Authorization"] == "[REDACTED]"


def test_a_token_endpoint_that_wants_body_credentials_gets_them(oauth_server, upstream):
    endpoint = TokenEndpoint(body_auth_only=True)
    with endpoint.server:
        call(oauth_server(endpoint), "viaOauth")

    assert upstream.requests[-1].headers["Authorization"] == "Bearer access-1"


def test_a_token_is_fetched_anew_shortly_before_it_expires(oauth_server, upstream):
    # 31 s of lifetime minus the 30 s safety margin: reusable for one second.
    endpoint = TokenEndpoint(lifetime=31)
    with endpoint.server, manual_clock() as clock:
        server = oauth_server(endpoint)
        call(server, "viaOauth")
        call(server, "viaOauth")
        clock.advance(1.1)
        call(server, "viaOauth")

    assert endpoint.issued == ["access-1", "access-2"]
    assert [r.headers["Authorization"] for r in upstream.requests] == [
        "Bearer access-1",
        "Bearer access-1",
        "Bearer access-2",
    ]


def test_a_rejected_token_is_refetched_once(oauth_server, upstream):
    endpoint = TokenEndpoint()

    def revoked_first(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("Authorization") == "Bearer access-1":
            return json_reply({"message": "token revoked"}, status=401)
        return json_reply({"ok": True})

    upstream.handler = revoked_first
    with endpoint.server:
        server = oauth_server(endpoint)
        outcome = call(server, "viaOauth")
        call(server, "viaOauth")

    assert outcome.status_code == 200
    assert endpoint.issued == ["access-1", "access-2"]
    assert [r.headers["Authorization"] for r in upstream.requests] == [
        "Bearer access-1",
        "Bearer access-2",
        "Bearer access-2",
    ]


def test_a_failing_token_endpoint_fails_the_call_without_sending_it(oauth_server, upstream):
    endpoint = TokenEndpoint()
    with endpoint.server:
        server = oauth_server(endpoint)
    # The endpoint is gone now: nothing listens on its port.

    caught = call(server, "viaOauth")

    assert caught.error_code == "oauth_token_unreachable"
    assert upstream.requests == []


def test_rejected_client_credentials_fail_with_a_clear_message(alice, upstream):
    endpoint = TokenEndpoint()
    with endpoint.server:
        document = secured_document(f"{endpoint.server.url}/token")
        server = server_from_document(user=alice, document=document, base_url=upstream.url)
        services.credential_create(
            user=alice, server_id=server.id, scheme="oauth", type="oauth2ClientCredentials",
            secret={"clientId": "cid", "clientSecret": "wrong-secret"},
        )  # fmt: skip
        caught = call(server, "viaOauth")

    assert caught.error_code == "oauth_token_rejected"
    assert "HTTP 401 (invalid_client)" in caught.result["content"][0]["text"]
    assert "wrong-secret" not in caught.result["content"][0]["text"]
    assert upstream.requests == []
