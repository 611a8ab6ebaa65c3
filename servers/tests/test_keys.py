from __future__ import annotations

import pytest
from django.core.cache import cache

from core.invalidation import generation_key
from core.secrets import hash_secret
from servers.models import AccessKey
from specs.testing import create_server, create_spec, notes_document, tools_of


@pytest.fixture
def server(alice_client) -> dict:
    return create_server(alice_client, create_spec(alice_client)["id"])


@pytest.mark.django_db
def test_it_creates_a_key_shown_once_and_stored_hashed(alice_client, server):
    url = f"/api/servers/{server['id']}/keys"
    response = alice_client.post(url, {"name": "Claude desktop"}, format="json")

    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "tools",
        "createdAt",
        "lastUsedAt",
        "key",
    }
    # Without scopes or tools a key may do everything, as every key could before scopes.
    assert data["scopes"] == ["tools:read", "tools:call:readonly", "tools:call"]
    assert data["tools"] is None
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


@pytest.mark.django_db
def test_it_creates_a_key_with_scopes_and_an_allowlist(alice_client, server):
    url = f"/api/servers/{server['id']}/keys"
    body = {
        "name": "reader",
        "scopes": ["tools:call:readonly"],
        "tools": ["listNotes", "deleteNote"],
    }
    response = alice_client.post(url, body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["scopes"] == ["tools:read", "tools:call:readonly"]
    assert data["tools"] == ["deleteNote", "listNotes"]
    stored = AccessKey.objects.get(id=data["id"])
    assert (stored.scope, stored.restricts_tools) == ("tools:call:readonly", True)
    # The allowlist holds this server's tools themselves, not names.
    assert {tool.server_id for tool in stored.tools.all()} == {stored.server_id}

    detail = alice_client.get(f"{url}/{data['id']}")
    assert detail.status_code == 200
    assert detail.json()["data"] == {key: data[key] for key in data if key != "key"}
    assert alice_client.get(url).json()["data"] == [detail.json()["data"]]


@pytest.mark.django_db
def test_the_strongest_scope_given_wins(alice_client, server):
    response = alice_client.post(
        f"/api/servers/{server['id']}/keys",
        {"name": "k", "scopes": ["tools:call", "tools:read"]},
        format="json",
    )
    assert response.json()["data"]["scopes"] == ["tools:read", "tools:call:readonly", "tools:call"]
    read = alice_client.post(
        f"/api/servers/{server['id']}/keys", {"name": "k", "scopes": ["tools:read"]}, format="json"
    )
    assert read.json()["data"]["scopes"] == ["tools:read"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"scopes": ["tools:write", "tools:read", "admin"]},
            {
                "scopes": [
                    "Unknown scope 'tools:write'; use tools:read, tools:call:readonly, tools:call.",
                    "Unknown scope 'admin'; use tools:read, tools:call:readonly, tools:call.",
                ]
            },
        ),
        (
            {"scopes": []},
            {"scopes": ["This list may not be empty."]},
        ),
        ({"scopes": "tools:call"}, {"scopes": ['Expected a list of items but got type "str".']}),
        (
            {"tools": []},
            {"tools": ["This list may not be empty."]},
        ),
        (
            {"tools": ["listNotes", "dropTables", "nope"]},
            {
                "tools": [
                    "The server has no tool named 'dropTables'.",
                    "The server has no tool named 'nope'.",
                ],
                "unknown": ["dropTables", "nope"],
            },
        ),
    ],
)
def test_it_refuses_unknown_scopes_and_tools(alice_client, server, body, details):
    response = alice_client.post(
        f"/api/servers/{server['id']}/keys", {"name": "k", **body}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == details
    assert not AccessKey.objects.exists()


@pytest.mark.django_db
def test_the_allowlist_follows_a_renamed_tool(alice_client, server):
    tools = tools_of(alice_client, server["id"])
    delete_note = tools["DELETE /notes/{id}"]
    key = alice_client.post(
        f"/api/servers/{server['id']}/keys",
        {"name": "k", "tools": ["deleteNote"]},
        format="json",
    ).json()["data"]

    renamed = alice_client.patch(
        f"/api/servers/{server['id']}/tools/{delete_note['id']}",
        {"name": "removeNote"},
        format="json",
    )
    assert renamed.status_code == 200
    # Another tool now takes the old name: it is not granted by the old grant.
    list_notes = tools["GET /notes"]
    alice_client.patch(
        f"/api/servers/{server['id']}/tools/{list_notes['id']}",
        {"name": "deleteNote"},
        format="json",
    )

    detail = alice_client.get(f"/api/servers/{server['id']}/keys/{key['id']}").json()["data"]
    assert detail["tools"] == ["removeNote"]


@pytest.mark.django_db
def test_a_disabled_tool_may_be_allowlisted(alice_client, server):
    tools = tools_of(alice_client, server["id"])
    alice_client.patch(
        f"/api/servers/{server['id']}/tools/{tools['GET /notes']['id']}",
        {"enabled": False},
        format="json",
    )
    response = alice_client.post(
        f"/api/servers/{server['id']}/keys", {"name": "k", "tools": ["listNotes"]}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["data"]["tools"] == ["listNotes"]


@pytest.mark.django_db
def test_another_users_server_and_keys_are_404(alice_client, bob_client, server):
    url = f"/api/servers/{server['id']}/keys"
    key = alice_client.post(url, {"name": "k", "scopes": ["tools:read"]}, format="json").json()
    key_id = key["data"]["id"]
    bob_server = create_server(bob_client, create_spec(bob_client)["id"], name="Bob")

    create = bob_client.post(url, {"name": "mine", "tools": ["listNotes"]}, format="json")
    assert create.status_code == 404
    assert create.json()["error"]["message"] == "Server not found"
    assert bob_client.get(url).status_code == 404
    assert bob_client.get(f"{url}/{key_id}").status_code == 404
    assert bob_client.get(f"/api/servers/{bob_server['id']}/keys/{key_id}").status_code == 404
    assert AccessKey.objects.filter(server_id=server["id"]).count() == 1


@pytest.mark.django_db
def test_a_revoked_key_is_404_in_detail(alice_client, server):
    url = f"/api/servers/{server['id']}/keys"
    key_id = alice_client.post(url, {"name": "k"}, format="json").json()["data"]["id"]
    alice_client.delete(f"{url}/{key_id}")
    response = alice_client.get(f"{url}/{key_id}")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Access key not found"


@pytest.mark.django_db
def test_operators_see_a_keys_scope_and_allowlist_never_its_secret(alice_client, operator, server):
    url = f"/api/servers/{server['id']}/keys"
    body = {"name": "k", "scopes": ["tools:call:readonly"], "tools": ["listNotes"]}
    key = alice_client.post(url, body, format="json").json()["data"]

    page = operator.get(f"/admin/servers/accesskey/{key['id']}/change/").content.decode()
    assert "tools:call:readonly" in page and "listNotes" in page
    assert key["key"] not in page
    server_page = operator.get(f"/admin/servers/server/{server['id']}/change/").content.decode()
    assert "listNotes" in server_page and key["key"] not in server_page


@pytest.mark.django_db
def test_a_key_can_be_narrowed_and_widened_and_keeps_its_secret(
    alice_client, server, django_capture_on_commit_callbacks
):
    url = f"/api/servers/{server['id']}/keys"
    with django_capture_on_commit_callbacks(execute=True):
        created = alice_client.post(url, {"name": "k"}, format="json").json()["data"]
    key_url = f"{url}/{created['id']}"
    generation = cache.get(generation_key(server["slug"]))

    with django_capture_on_commit_callbacks(execute=True):
        narrowed = alice_client.patch(
            key_url, {"scopes": ["tools:read"], "tools": ["listNotes"]}, format="json"
        )
    assert narrowed.status_code == 200, narrowed.json()
    assert narrowed.json()["data"] | {"scopes": None, "tools": None} == {
        key: created[key] for key in created if key != "key"
    } | {"scopes": None, "tools": None}
    assert (narrowed.json()["data"]["scopes"], narrowed.json()["data"]["tools"]) == (
        ["tools:read"],
        ["listNotes"],
    )
    # Every gateway worker is told: the server's generation changed.
    assert cache.get(generation_key(server["slug"])) not in (None, generation)

    renamed = alice_client.patch(key_url, {"name": "renamed"}, format="json").json()["data"]
    assert (renamed["name"], renamed["scopes"], renamed["tools"]) == (
        "renamed",
        ["tools:read"],
        ["listNotes"],
    )
    widened = alice_client.patch(key_url, {"tools": None}, format="json").json()["data"]
    assert (widened["scopes"], widened["tools"]) == (["tools:read"], None)
    stored = AccessKey.objects.get(id=created["id"])
    assert stored.key_hash == hash_secret(created["key"])
    assert not stored.tools.exists()


@pytest.mark.django_db
def test_a_refused_change_changes_nothing(alice_client, server):
    url = f"/api/servers/{server['id']}/keys"
    created = alice_client.post(url, {"name": "k", "tools": ["listNotes"]}, format="json")
    key_url = f"{url}/{created.json()['data']['id']}"

    response = alice_client.patch(
        key_url, {"name": "x", "scopes": ["tools:read"], "tools": ["nope"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["unknown"] == ["nope"]
    unchanged = alice_client.get(key_url).json()["data"]
    assert (unchanged["name"], unchanged["scopes"][-1], unchanged["tools"]) == (
        "k",
        "tools:call",
        ["listNotes"],
    )

    alice_client.delete(key_url)
    assert alice_client.patch(key_url, {"name": "back"}, format="json").status_code == 404


@pytest.mark.django_db
def test_a_tool_removed_from_the_spec_leaves_the_allowlist_and_grants_nothing_else(
    alice_client, server
):
    url = f"/api/servers/{server['id']}/keys"
    key = alice_client.post(url, {"name": "k", "tools": ["deleteNote"]}, format="json").json()
    document = notes_document()
    del document["paths"]["/notes/{id}"]
    updated = alice_client.patch(
        f"/api/specs/{server['specId']}", {"document": document}, format="json"
    )
    assert updated.status_code == 200, updated.json()

    detail = alice_client.get(f"{url}/{key['data']['id']}").json()["data"]
    # Still a restricted key: an emptied allowlist allows no tool, never every tool.
    assert detail["tools"] == []
    assert AccessKey.objects.get(id=key["data"]["id"]).restricts_tools is True
