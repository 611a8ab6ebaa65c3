"""A new spec revision re-syncs every server built from it (PATCH /api/specs, docs/api.md)."""

from __future__ import annotations

import copy

import pytest

from specs.testing import create_server, create_spec, notes_document, tools_of
from tools.models import Tool


def _next_revision(document: dict) -> dict:
    """Adds `search` (clashing with a custom name) and GET /tags, changes GET /notes,
    removes GET /health."""
    revised = copy.deepcopy(document)
    revised["paths"]["/notes"]["get"]["summary"] = "List every note"
    del revised["paths"]["/health"]
    revised["paths"]["/search"] = {
        "get": {"operationId": "search", "responses": {"200": {"description": "OK"}}}
    }
    revised["paths"]["/tags"] = {
        "get": {"operationId": "listTags", "responses": {"200": {"description": "OK"}}}
    }
    return revised


@pytest.mark.django_db
def test_a_new_revision_resyncs_every_server_and_keeps_overrides(alice_client):
    document = notes_document()
    spec = create_spec(alice_client, document)
    first = create_server(alice_client, spec["id"], name="First", operations=["listNotes"])
    second = create_server(alice_client, spec["id"], name="Second")
    before = tools_of(alice_client, first["id"])
    tools_url = f"/api/servers/{first['id']}/tools"
    alice_client.patch(
        f"{tools_url}/{before['GET /notes']['id']}",
        {"name": "search", "description": "Custom words", "enabled": False},
        format="json",
    )
    alice_client.patch(
        f"{tools_url}/{before['POST /notes']['id']}", {"enabled": True}, format="json"
    )

    response = alice_client.patch(
        f"/api/specs/{spec['id']}", {"document": _next_revision(document)}, format="json"
    )

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["revision"] == 2
    assert data["sync"] == {"added": 4, "updated": 2, "removed": 2}

    after = tools_of(alice_client, first["id"])
    assert sorted(after) == [
        "DELETE /notes/{id}",
        "GET /notes",
        "GET /search",
        "GET /tags",
        "POST /notes",
    ]
    listed = after["GET /notes"]
    assert listed["id"] == before["GET /notes"]["id"]
    assert (listed["name"], listed["description"], listed["enabled"]) == (
        "search",
        "Custom words",
        False,
    )
    assert listed["annotations"]["title"] == "List every note"
    # The custom name wins; the new operation's generated name gets a suffix.
    assert (after["GET /search"]["name"], after["GET /search"]["enabled"]) == ("search_2", True)
    assert (after["GET /tags"]["name"], after["GET /tags"]["enabled"]) == ("listTags", True)
    assert after["POST /notes"]["enabled"] is True
    assert after["DELETE /notes/{id}"]["enabled"] is False
    assert after["DELETE /notes/{id}"]["id"] == before["DELETE /notes/{id}"]["id"]

    untouched = tools_of(alice_client, second["id"])
    assert {key: tool["name"] for key, tool in untouched.items()} == {
        "GET /notes": "listNotes",
        "POST /notes": "createNote",
        "DELETE /notes/{id}": "deleteNote",
        "GET /search": "search",
        "GET /tags": "listTags",
    }
    detail = alice_client.get(f"/api/servers/{first['id']}").json()["data"]
    assert (detail["toolCount"], detail["enabledToolCount"]) == (5, 3)


@pytest.mark.django_db
def test_a_freed_name_goes_back_to_its_generated_value_on_the_next_sync(alice_client):
    document = notes_document()
    spec = create_spec(alice_client, document)
    server = create_server(alice_client, spec["id"])
    tools = tools_of(alice_client, server["id"])
    alice_client.patch(
        f"/api/servers/{server['id']}/tools/{tools['GET /notes']['id']}",
        {"name": "search"},
        format="json",
    )
    revised = _next_revision(document)
    alice_client.patch(f"/api/specs/{spec['id']}", {"document": revised}, format="json")
    assert tools_of(alice_client, server["id"])["GET /search"]["name"] == "search_2"

    alice_client.patch(
        f"/api/servers/{server['id']}/tools/{tools['GET /notes']['id']}",
        {"name": "notes"},
        format="json",
    )
    revised["paths"]["/tags"]["get"]["summary"] = "Tags"
    response = alice_client.patch(f"/api/specs/{spec['id']}", {"document": revised}, format="json")

    assert response.json()["data"]["sync"] == {"added": 0, "updated": 1, "removed": 0}
    names = {key: tool["name"] for key, tool in tools_of(alice_client, server["id"]).items()}
    assert (names["GET /notes"], names["GET /search"]) == ("notes", "search")
    assert Tool.objects.filter(server_id=server["id"]).count() == 5
