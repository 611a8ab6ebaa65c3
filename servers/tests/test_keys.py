from __future__ import annotations

import pytest
from django.core.cache import cache

from core.invalidation import generation_key
from core.secrets import hash_secret
from servers.models import AccessKey
from specs.testing import create_server, create_spec


@pytest.fixture
def server(alice_client) -> dict:
    return create_server(alice_client, create_spec(alice_client)["id"])


@pytest.mark.django_db
def test_it_creates_a_key_shown_once_and_stored_hashed(alice_client, server):
    url = f"/api/servers/{server['id']}/keys"
    response = alice_client.post(url, {"name": "Claude desktop"}, format="json")

    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) == {"id", "name", "prefix", "createdAt", "lastUsedAt", "key"}
    assert data["key"].startswith("mcpk_") and len(data["key"]) > 40
    assert (data["name"], data["prefix"], data["lastUsedAt"]) == (
        "Claude desktop",
        data["key"][:12],
        None,
    )
    stored = AccessKey.objects.get(id=data["id"])
    assert stored.key_hash == hash_secret(data["key"])
    assert data["key"] not in str(AccessKey.objects.filter(id=data["id"]).values().first())

    listing = alice_client.get(url).json()
    assert listing["data"] == [{key: data[key] for key in data if key != "key"}]
    assert listing["pagination"] == {"nextCursor": None, "hasMore": False}


@pytest.mark.django_db
def test_a_revoked_key_disappears_from_the_list(alice_client, server):
    url = f"/api/servers/{server['id']}/keys"
    kept = alice_client.post(url, {"name": "kept"}, format="json").json()["data"]
    revoked = alice_client.post(url, {"name": "revoked"}, format="json").json()["data"]

    deleted = alice_client.delete(f"{url}/{revoked['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "data": {"id": revoked["id"], "deleted": True}}

    assert [key["id"] for key in alice_client.get(url).json()["data"]] == [kept["id"]]
    assert AccessKey.objects.get(id=revoked["id"]).revoked_at is not None
    again = alice_client.delete(f"{url}/{revoked['id']}")
    assert again.status_code == 404
    assert again.json()["error"]["message"] == "Access key not found"


@pytest.mark.django_db
def test_it_validates_the_body(alice_client, server):
    response = alice_client.post(
        f"/api/servers/{server['id']}/keys", {"name": "x" * 101}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "name": ["Ensure this field has no more than 100 characters."]
    }


@pytest.mark.django_db
def test_it_validates_ownership(alice_client, bob_client, server):
    key = alice_client.post(
        f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json"
    ).json()["data"]
    bob_server = create_server(bob_client, create_spec(bob_client)["id"], name="Bob")

    assert bob_client.delete(f"/api/servers/{server['id']}/keys/{key['id']}").status_code == 404
    # Bob's own server does not reach Alice's key either.
    assert bob_client.delete(f"/api/servers/{bob_server['id']}/keys/{key['id']}").status_code == 404
    assert AccessKey.objects.get(id=key["id"]).revoked_at is None


@pytest.mark.django_db
def test_key_and_server_changes_tell_the_gateway(
    alice_client, server, django_capture_on_commit_callbacks
):
    cache.delete_many([generation_key("notes"), generation_key("moved")])
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json")
    first = cache.get(generation_key("notes"))
    assert first is not None

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.patch(f"/api/servers/{server['id']}", {"slug": "moved"}, format="json")
    assert cache.get(generation_key("notes")) not in (None, first)
    assert cache.get(generation_key("moved")) is not None
