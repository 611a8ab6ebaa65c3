from __future__ import annotations

import pytest

from specs.testing import create_server, create_spec, tools_of
from tools.models import Tool

TOOL_FIELDS = {
    "id",
    "name",
    "description",
    "enabled",
    "operationId",
    "method",
    "path",
    "inputSchema",
    "outputSchema",
    "annotations",
    "overridden",
}


@pytest.fixture
def server(alice_client) -> dict:
    return create_server(alice_client, create_spec(alice_client)["id"])


@pytest.mark.django_db
def test_it_lists_tools_in_document_order_with_their_definitions(alice_client, server):
    response = alice_client.get(f"/api/servers/{server['id']}/tools")

    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"nextCursor": None, "hasMore": False}
    assert [tool["name"] for tool in body["data"]] == [
        "listNotes",
        "createNote",
        "deleteNote",
        "get_health",
    ]
    delete = body["data"][2]
    assert set(delete) == TOOL_FIELDS
    assert {key: delete[key] for key in TOOL_FIELDS - {"id", "inputSchema"}} == {
        "name": "deleteNote",
        "description": "Delete a note\n\nHTTP DELETE /notes/{id}",
        "enabled": True,
        "operationId": "deleteNote",
        "method": "DELETE",
        "path": "/notes/{id}",
        "outputSchema": None,
        "annotations": {
            "title": "Delete a note",
            "readOnlyHint": False,
            "destructiveHint": True,
            "idempotentHint": True,
        },
        "overridden": {"name": False, "description": False},
    }
    assert delete["inputSchema"]["properties"] == {"id": {"type": "string", "minLength": 1}}
    assert delete["inputSchema"]["required"] == ["id"]
    assert body["data"][3]["operationId"] is None


@pytest.mark.django_db
def test_tools_page_with_a_signed_cursor(alice_client, server):
    url = f"/api/servers/{server['id']}/tools"
    first = alice_client.get(f"{url}?limit=3").json()
    assert first["pagination"]["hasMore"] is True
    second = alice_client.get(f"{url}?limit=3&cursor={first['pagination']['nextCursor']}").json()
    assert [tool["name"] for tool in first["data"] + second["data"]] == [
        "listNotes",
        "createNote",
        "deleteNote",
        "get_health",
    ]
    assert second["pagination"] == {"nextCursor": None, "hasMore": False}

    tampered = alice_client.get(f"{url}?cursor={first['pagination']['nextCursor']}x")
    assert tampered.status_code == 400
    assert tampered.json()["error"]["details"] == {"cursor": ["Invalid or tampered cursor."]}


@pytest.mark.django_db
def test_it_overrides_and_resets_name_description_and_enabled(alice_client, server):
    tool = tools_of(alice_client, server["id"])["GET /notes"]
    url = f"/api/servers/{server['id']}/tools/{tool['id']}"

    response = alice_client.patch(
        url, {"name": "notes_list", "description": "All notes.", "enabled": False}, format="json"
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["name"], data["description"], data["enabled"]) == (
        "notes_list",
        "All notes.",
        False,
    )
    assert data["overridden"] == {"name": True, "description": True}
    detail = alice_client.get(f"/api/servers/{server['id']}").json()["data"]
    assert (detail["toolCount"], detail["enabledToolCount"]) == (4, 3)

    reset = alice_client.patch(url, {"name": None, "description": None}, format="json")
    data = reset.json()["data"]
    assert (data["name"], data["description"], data["enabled"]) == (
        "listNotes",
        "List notes\n\nHTTP GET /notes",
        False,
    )
    assert data["overridden"] == {"name": False, "description": False}


@pytest.mark.django_db
def test_enabled_null_resets_a_tool_to_enabled(alice_client, server):
    tool = tools_of(alice_client, server["id"])["GET /notes"]
    url = f"/api/servers/{server['id']}/tools/{tool['id']}"
    assert (
        alice_client.patch(url, {"enabled": False}, format="json").json()["data"]["enabled"]
        is False
    )

    response = alice_client.patch(url, {"enabled": None}, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["enabled"] is True
    detail = alice_client.get(f"/api/servers/{server['id']}").json()["data"]
    assert detail["enabledToolCount"] == detail["toolCount"]


@pytest.mark.django_db
def test_resetting_a_name_that_a_custom_name_took_gets_a_suffix(alice_client, server):
    tools = tools_of(alice_client, server["id"])
    base = f"/api/servers/{server['id']}/tools"
    alice_client.patch(f"{base}/{tools['GET /notes']['id']}", {"name": "list"}, format="json")
    alice_client.patch(f"{base}/{tools['POST /notes']['id']}", {"name": "listNotes"}, format="json")

    reset = alice_client.patch(f"{base}/{tools['GET /notes']['id']}", {"name": None}, format="json")

    assert reset.json()["data"]["name"] == "listNotes_2"
    assert tools_of(alice_client, server["id"])["POST /notes"]["name"] == "listNotes"


@pytest.mark.django_db
def test_tool_names_follow_the_mcp_rule_and_are_unique_per_server(alice_client, server):
    tools = tools_of(alice_client, server["id"])
    url = f"/api/servers/{server['id']}/tools/{tools['GET /notes']['id']}"

    invalid = alice_client.patch(url, {"name": "has space", "enabled": "maybe"}, format="json")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["details"] == {
        "name": ["Use 1 to 64 letters, digits, underscores or hyphens."],
        "enabled": ["Must be a valid boolean."],
    }
    too_long = alice_client.patch(url, {"name": "x" * 65}, format="json")
    assert too_long.json()["error"]["details"] == {
        "name": ["Ensure this field has no more than 64 characters."]
    }

    taken = alice_client.patch(url, {"name": "createNote"}, format="json")
    assert taken.status_code == 409
    assert taken.json()["error"] == {
        "code": "CONFLICT",
        "message": "Another tool of this server has that name",
        "details": {"name": ["A tool named 'createNote' already exists on this server."]},
    }
    assert Tool.objects.get(id=tools["GET /notes"]["id"]).name == "listNotes"


@pytest.mark.django_db
def test_it_validates_ownership(alice_client, bob_client, server):
    tool = tools_of(alice_client, server["id"])["GET /notes"]
    bob_server = create_server(bob_client, create_spec(bob_client)["id"], name="Bob")

    for url in (
        f"/api/servers/{server['id']}/tools/{tool['id']}",
        f"/api/servers/{bob_server['id']}/tools/{tool['id']}",
    ):
        response = bob_client.patch(url, {"enabled": False}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert bob_client.get(f"/api/servers/{server['id']}/tools").status_code == 404
    assert Tool.objects.get(id=tool["id"]).enabled is True
