from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from core.invalidation import generation_key
from credentials.models import Credential
from credentials.testing import (
    bare_document,
    one_scheme_document,
    secured_document,
    server_from_document,
)

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:9"


@pytest.fixture
def secured(alice):
    return server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )


def create(client, server, **body: Any):
    return client.post("/api/credentials", {"serverId": str(server.id), **body}, format="json")


def test_it_stores_a_credential_and_answers_metadata_only(alice_client, secured):
    response = create(alice_client, secured, scheme="headerKey", type="apiKey", value="k-123456")

    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) == {
        "id", "serverId", "name", "scheme", "type", "in", "paramName", "tokenUrl", "scopes",
        "createdAt", "lastUsedAt", "authorizationUrl", "revocationUrl", "redirectUri",
    }  # fmt: skip
    assert data["serverId"] == str(secured.id)
    assert data["scheme"] == "headerKey"
    assert data["type"] == "apiKey"
    assert data["lastUsedAt"] is None
    assert "k-123456" not in response.content.decode()


@pytest.mark.parametrize(
    ("scheme", "body"),
    [
        ("queryKey", {"type": "apiKey", "value": "v-1234"}),
        ("bearerAuth", {"type": "bearer", "value": "tok-1234"}),
        ("basicAuth", {"type": "basic", "username": "ann", "password": "pw-1234"}),
        ("oauth", {"type": "oauth2ClientCredentials", "clientId": "cid", "clientSecret": "cs-1"}),
        ("oauth", {"type": "bearer", "value": "static-token"}),
    ],
)
def test_it_accepts_each_type_that_fits_its_scheme(alice_client, secured, scheme, body):
    response = create(alice_client, secured, scheme=scheme, **body)

    assert response.status_code == 201, response.json()


def test_an_oauth2_credential_takes_the_token_url_of_its_flow(alice_client, secured):
    response = create(
        alice_client, secured, scheme="oauth", type="oauth2ClientCredentials",
        clientId="cid", clientSecret="cs-1", scopes=["read"],
    )  # fmt: skip

    assert response.json()["data"]["tokenUrl"] == f"{BASE}/token"
    assert response.json()["data"]["scopes"] == ["read"]


@pytest.mark.parametrize(
    ("scheme", "body", "field"),
    [
        ("headerKey", {"type": "bearer", "value": "x-1234"}, "type"),
        ("bearerAuth", {"type": "basic", "username": "a", "password": "b"}, "type"),
        ("basicAuth", {"type": "apiKey", "value": "x-1234"}, "type"),
        ("nope", {"type": "apiKey", "value": "x-1234"}, "scheme"),
        ("headerKey", {"type": "apiKey"}, "value"),
        ("basicAuth", {"type": "basic", "username": "a"}, "password"),
        ("oauth", {"type": "oauth2ClientCredentials", "clientId": "c"}, "clientSecret"),
        ("headerKey", {"type": "apiKey", "value": "x-1234", "in": "query", "paramName": "k"}, "in"),
        ("bearerAuth", {"type": "bearer", "value": "x-1234", "tokenUrl": "http://a/t"}, "tokenUrl"),
    ],
)
def test_it_rejects_what_does_not_fit(alice_client, secured, scheme, body, field):
    response = create(alice_client, secured, scheme=scheme, **body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]
    assert Credential.objects.count() == 0


def test_an_omitted_scheme_is_the_only_one(alice, alice_client):
    server = server_from_document(user=alice, document=one_scheme_document(), base_url=BASE)

    response = create(alice_client, server, type="bearer", value="tok-1234")

    assert response.status_code == 201
    assert response.json()["data"]["scheme"] == "token"


def test_an_omitted_scheme_among_several_names_the_choices(alice_client, secured):
    response = create(alice_client, secured, type="bearer", value="tok-1234")

    assert response.status_code == 400
    message = response.json()["error"]["details"]["scheme"][0]
    for name in ("basicAuth", "bearerAuth", "cookieKey", "headerKey", "oauth", "queryKey"):
        assert name in message


def test_a_spec_without_schemes_takes_an_api_key_that_says_where_it_goes(alice, alice_client):
    server = server_from_document(user=alice, document=bare_document(), base_url=BASE)

    missing = create(alice_client, server, type="apiKey", value="k-1234")
    response = create(
        alice_client, server, type="apiKey", value="k-1234", paramName="X-Key", **{"in": "header"}
    )

    assert missing.status_code == 400
    assert "in" in missing.json()["error"]["details"]
    assert response.status_code == 201
    assert response.json()["data"]["scheme"] is None
    assert response.json()["data"]["in"] == "header"
    assert response.json()["data"]["paramName"] == "X-Key"


def test_a_second_credential_for_a_scheme_conflicts(alice_client, secured):
    create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")

    response = create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-5678")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


def test_it_lists_a_servers_credentials_newest_first(alice_client, secured):
    create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")
    create(alice_client, secured, scheme="headerKey", type="apiKey", value="key-1234")

    response = alice_client.get(f"/api/credentials?serverId={secured.id}")

    assert response.status_code == 200
    assert [item["scheme"] for item in response.json()["data"]] == ["headerKey", "bearerAuth"]
    assert response.json()["pagination"]["hasMore"] is False


@pytest.mark.parametrize("query", ["?serverId=not-a-uuid", "?serverId=42"])
def test_listing_needs_a_valid_server_id(alice_client, query):
    response = alice_client.get(f"/api/credentials{query}")

    assert response.status_code == 400
    assert "serverId" in response.json()["error"]["details"]


def test_without_server_id_it_lists_all_of_the_users_credentials(
    alice, alice_client, bob, bob_client, secured
):
    other = server_from_document(
        user=alice, document=secured_document(f"{BASE}/token"), base_url=BASE
    )
    bobs = server_from_document(user=bob, document=secured_document(f"{BASE}/token"), base_url=BASE)
    first = create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")
    second = create(alice_client, other, scheme="headerKey", type="apiKey", value="key-1234")
    third = create(alice_client, other, scheme="bearerAuth", type="bearer", value="tok-5678")
    create(bob_client, bobs, scheme="bearerAuth", type="bearer", value="tok-bob1")

    page = alice_client.get("/api/credentials?limit=2")
    rest = alice_client.get(
        f"/api/credentials?limit=2&cursor={page.json()['pagination']['nextCursor']}"
    )

    assert page.status_code == 200
    listed = [item["id"] for item in page.json()["data"] + rest.json()["data"]]
    ids = [r.json()["data"]["id"] for r in (third, second, first)]
    assert listed == ids
    assert rest.json()["pagination"] == {"nextCursor": None, "hasMore": False}
    assert [c["id"] for c in bob_client.get("/api/credentials").json()["data"]] != ids


def test_another_users_server_and_credentials_are_not_found(alice_client, bob_client, secured):
    created = create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")
    credential_id = created.json()["data"]["id"]

    listed = bob_client.get(f"/api/credentials?serverId={secured.id}")
    stored = create(bob_client, secured, scheme="headerKey", type="apiKey", value="k-1234")
    deleted = bob_client.delete(f"/api/credentials/{credential_id}")

    assert [listed.status_code, stored.status_code, deleted.status_code] == [404, 404, 404]
    assert Credential.objects.filter(id=credential_id).exists()


def test_it_deletes_a_credential(alice_client, secured):
    created = create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")

    response = alice_client.delete(f"/api/credentials/{created.json()['data']['id']}")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {"id": created.json()["data"]["id"], "deleted": True},
    }
    assert Credential.objects.count() == 0
    assert (
        alice_client.delete(f"/api/credentials/{created.json()['data']['id']}").status_code == 404
    )


def test_every_change_tells_the_gateway(alice_client, secured, django_capture_on_commit_callbacks):
    key = generation_key(secured.slug)
    with django_capture_on_commit_callbacks(execute=True):
        create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")
    after_create = cache.get(key)
    credential = Credential.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.delete(f"/api/credentials/{credential.id}")

    assert after_create is not None
    assert cache.get(key) not in (None, after_create)


def test_a_credential_change_publishes_one_generation_for_the_gateway_and_the_credential_cache(
    alice_client, secured, django_capture_on_commit_callbacks
):
    # One channel: the gateway reads the token by slug, the credential cache by server id.
    with django_capture_on_commit_callbacks(execute=True):
        create(alice_client, secured, scheme="bearerAuth", type="bearer", value="tok-1234")

    by_slug = cache.get(generation_key(secured.slug))
    assert by_slug is not None
    assert cache.get(generation_key(str(secured.id))) == by_slug
