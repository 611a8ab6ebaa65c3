from __future__ import annotations

import pytest
from django.utils import timezone

from servers.models import Server
from specs.models import Spec
from specs.testing import create_server, create_spec, notes_document, with_servers
from tools.models import Tool
from usage.models import RequestLog

SERVER_FIELDS = {
    "id",
    "specId",
    "name",
    "slug",
    "description",
    "baseUrl",
    "status",
    "visibility",
    "toolMode",
    "tracePropagation",
    "mcpUrl",
    "toolCount",
    "enabledToolCount",
    "createdAt",
    "updatedAt",
}
DETAIL_FIELDS = SERVER_FIELDS | {"effectiveToolMode", "toolsListBytes", "toolsListTokens"}


@pytest.mark.django_db
def test_it_creates_a_server_with_one_tool_per_operation(alice_client, alice, settings):
    spec = create_spec(alice_client)

    response = alice_client.post(
        "/api/servers",
        {"specId": spec["id"], "name": "Team Notes", "description": "For the team"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert set(data) == DETAIL_FIELDS
    assert data["specId"] == spec["id"]
    assert (data["name"], data["slug"], data["description"]) == (
        "Team Notes",
        "team-notes",
        "For the team",
    )
    assert data["baseUrl"] == "https://notes.example/v1"
    assert (data["status"], data["visibility"]) == ("active", "private")
    assert data["mcpUrl"] == f"{settings.PUBLIC_BASE_URL}/mcp/team-notes"
    assert (data["toolCount"], data["enabledToolCount"]) == (4, 4)
    server = Server.objects.get(id=data["id"], user=alice)
    assert sorted(server.tools.values_list("name", flat=True)) == [
        "createNote",
        "deleteNote",
        "get_health",
        "listNotes",
    ]
    assert alice_client.get(f"/api/servers/{data['id']}").json()["data"] == data
    listing = alice_client.get("/api/servers").json()
    assert listing["data"] == [{key: data[key] for key in SERVER_FIELDS}]
    assert listing["pagination"] == {"nextCursor": None, "hasMore": False}


@pytest.mark.django_db
def test_generated_slugs_are_unique_and_a_taken_slug_is_a_409(alice_client, bob_client):
    spec = create_spec(alice_client)
    first = create_server(alice_client, spec["id"], name="Notes!")
    second = create_server(alice_client, spec["id"], name="Notes")
    odd = create_server(alice_client, spec["id"], name="???")
    assert (first["slug"], second["slug"], odd["slug"]) == ("notes", "notes-2", "server")

    bob_spec = create_spec(bob_client)
    response = bob_client.post(
        "/api/servers", {"specId": bob_spec["id"], "name": "x", "slug": "notes"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "CONFLICT",
        "message": "That slug is taken",
        "details": {"slug": ["The slug 'notes' is already in use."]},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("selection", "enabled"),
    [
        (["listNotes"], ["listNotes"]),
        (["DELETE /notes/{id}", "get /health"], ["deleteNote", "get_health"]),
        (["tag:notes"], ["createNote", "deleteNote", "listNotes"]),
        (["tag:ops", "createNote"], ["createNote", "get_health"]),
    ],
)
def test_an_operations_selection_enables_only_those_tools(alice_client, selection, enabled):
    spec = create_spec(alice_client)
    server = create_server(alice_client, spec["id"], operations=selection)

    assert (server["toolCount"], server["enabledToolCount"]) == (4, len(enabled))
    on = Tool.objects.filter(server_id=server["id"], enabled=True).values_list("name", flat=True)
    assert sorted(on) == enabled


@pytest.mark.django_db
def test_unknown_operation_selectors_are_named_in_a_400(alice_client):
    spec = create_spec(alice_client)
    response = alice_client.post(
        "/api/servers",
        {
            "specId": spec["id"],
            "name": "x",
            "operations": ["listNotes", "nope", "tag:missing", "PUT /notes"],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "operations": [
            "No operation matches 'nope'.",
            "No operation matches 'tag:missing'.",
            "No operation matches 'PUT /notes'.",
        ],
        "unknown": ["nope", "tag:missing", "PUT /notes"],
    }
    assert not Server.objects.exists()


@pytest.mark.django_db
def test_it_validates_the_create_body(alice_client):
    response = alice_client.post(
        "/api/servers",
        {
            "specId": "nope",
            "slug": "Bad Slug",
            "operations": [],
            "baseUrl": "",
            "toolMode": "lazy",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "toolMode": ['"lazy" is not a valid choice.'],
        "specId": ["Must be a valid UUID."],
        "name": ["This field is required."],
        "slug": ["Lowercase letters, digits and hyphens, at most 64; part of the MCP URL."],
        "operations": ["This list may not be empty."],
        "baseUrl": ["This field may not be blank."],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("servers", "source_url", "base_url", "expected"),
    [
        ([{"url": "https://api.example/v2/"}], "", None, "https://api.example/v2"),
        ([{"url": "https://api.example"}], "", "http://other.example/x", "http://other.example/x"),
        (
            [{"url": "/api/v3"}],
            "https://docs.example/specs/o.json",
            None,
            "https://docs.example/api/v3",
        ),
        (None, "https://docs.example/specs/o.json", None, "https://docs.example"),
    ],
    ids=["first-server", "given", "relative-to-source", "none-uses-source-origin"],
)
def test_the_base_url_comes_from_the_request_or_the_spec(
    alice_client, servers, source_url, base_url, expected
):
    spec = create_spec(alice_client, with_servers(notes_document(), servers))
    Spec.objects.filter(id=spec["id"]).update(source_url=source_url)
    extra = {"baseUrl": base_url} if base_url else {}
    assert create_server(alice_client, spec["id"], **extra)["baseUrl"] == expected


@pytest.mark.django_db
def test_a_swagger_2_host_and_base_path_make_the_base_url(alice_client):
    document = {
        "swagger": "2.0",
        "info": {"title": "Old", "version": "1"},
        "host": "legacy.example",
        "basePath": "/api",
        "schemes": ["http", "https"],
        "paths": {"/ping": {"get": {"responses": {"200": {"description": "OK"}}}}},
    }
    spec = create_spec(alice_client, document)
    assert create_server(alice_client, spec["id"])["baseUrl"] == "https://legacy.example/api"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("servers", "base_url", "message"),
    [
        ([{"url": "/v1"}], None, "The spec's server URL '/v1' is relative; give baseUrl."),
        (None, None, "The spec names no server URL; give baseUrl."),
        (None, "ftp://files.example", "'ftp://files.example' is not an absolute http(s) URL."),
        (None, "notaurl", "'notaurl' is not an absolute http(s) URL."),
    ],
)
def test_a_missing_or_unusable_base_url_is_a_400(alice_client, servers, base_url, message):
    spec = create_spec(alice_client, with_servers(notes_document(), servers))
    body = {"specId": spec["id"], "name": "x"} | ({"baseUrl": base_url} if base_url else {})
    response = alice_client.post("/api/servers", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"baseUrl": [message]}


@pytest.mark.django_db
def test_it_updates_a_server(alice_client):
    spec = create_spec(alice_client)
    server = create_server(alice_client, spec["id"])
    response = alice_client.patch(
        f"/api/servers/{server['id']}",
        {
            "name": "Renamed",
            "description": "d",
            "slug": "renamed",
            "baseUrl": "https://staging.notes.example/",
            "status": "disabled",
            "visibility": "public",
            "toolMode": "dynamic",
        },
        format="json",
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["toolMode"], data["effectiveToolMode"]) == ("dynamic", "dynamic")
    assert {key: data[key] for key in ("name", "description", "slug", "baseUrl")} == {
        "name": "Renamed",
        "description": "d",
        "slug": "renamed",
        "baseUrl": "https://staging.notes.example",
    }
    assert (data["status"], data["visibility"]) == ("disabled", "public")
    assert data["mcpUrl"].endswith("/mcp/renamed")
    stored = Server.objects.get(id=server["id"])
    assert stored.config_version > 1


@pytest.mark.django_db
def test_update_validates_and_refuses_a_taken_slug(alice_client, bob_client):
    spec = create_spec(alice_client)
    server = create_server(alice_client, spec["id"])
    bob_server = create_server(bob_client, create_spec(bob_client)["id"], name="Bob")
    url = f"/api/servers/{server['id']}"

    taken = alice_client.patch(url, {"slug": bob_server["slug"]}, format="json")
    assert taken.status_code == 409
    assert taken.json()["error"]["details"] == {"slug": ["The slug 'bob' is already in use."]}

    invalid = alice_client.patch(
        url,
        {"status": "paused", "visibility": "secret", "name": "", "toolMode": None},
        format="json",
    )
    assert invalid.status_code == 400
    assert invalid.json()["error"]["details"] == {
        "toolMode": ["This field may not be null."],
        "name": ["This field may not be blank."],
        "status": ['"paused" is not a valid choice.'],
        "visibility": ['"secret" is not a valid choice.'],
    }
    assert Server.objects.get(id=server["id"]).slug == "notes"


@pytest.mark.django_db
def test_delete_removes_tools_and_keys_and_keeps_logs_with_the_server_name(alice_client, alice):
    spec = create_spec(alice_client)
    server = create_server(alice_client, spec["id"])
    alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json")
    tool = Tool.objects.filter(server_id=server["id"]).get(name="listNotes")
    log = RequestLog.objects.create(
        user=alice,
        server_id=server["id"],
        server_name="Notes",
        tool=tool,
        tool_name=tool.name,
        source="mcp",
        method="GET",
        path="/notes",
        created_at=timezone.now(),
    )

    deleted = alice_client.delete(f"/api/servers/{server['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "data": {"id": server["id"], "deleted": True}}

    assert alice_client.get(f"/api/servers/{server['id']}").status_code == 404
    assert not Tool.objects.filter(server_id=server["id"]).exists()
    log.refresh_from_db()
    assert (log.server_id, log.tool_id, log.server_name) == (None, None, "Notes")


@pytest.mark.django_db
def test_the_plan_limit_on_servers_is_a_403(alice_client, settings):
    settings.PLAN_ENFORCEMENT = True
    spec = create_spec(alice_client)
    created = 0
    while True:
        response = alice_client.post(
            "/api/servers", {"specId": spec["id"], "name": f"s{created}"}, format="json"
        )
        if response.status_code != 201:
            break
        created += 1
        assert created < 100
    assert response.status_code == 403
    assert response.json()["error"]["details"]["reason"] == "server_limit"
    assert Server.objects.count() == created


@pytest.mark.django_db
def test_it_validates_ownership(alice_client, bob_client):
    server = create_server(alice_client, create_spec(alice_client)["id"])
    base = f"/api/servers/{server['id']}"
    attempts = [
        bob_client.get(base),
        bob_client.patch(base, {"name": "mine"}, format="json"),
        bob_client.delete(base),
        bob_client.get(f"{base}/keys"),
        bob_client.post(f"{base}/keys", {"name": "k"}, format="json"),
        bob_client.get(f"{base}/tools"),
    ]
    for response in attempts:
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "NOT_FOUND",
            "message": "Server not found",
            "details": {},
        }
    assert bob_client.get("/api/servers").json()["data"] == []
    assert Server.objects.get(id=server["id"]).name == "Notes"


@pytest.mark.django_db
def test_fields_without_a_value_are_null_not_empty(alice_client):
    spec = create_spec(alice_client)
    server = alice_client.post(
        "/api/servers", {"specId": spec["id"], "name": "Bare"}, format="json"
    ).json()["data"]
    credential = alice_client.post(
        "/api/credentials",
        {"serverId": server["id"], "type": "apiKey", "value": "k-1", "in": "header",
         "paramName": "X-Key"},
        format="json",
    ).json()["data"]  # fmt: skip
    cleared = alice_client.patch(
        f"/api/servers/{server['id']}", {"description": ""}, format="json"
    ).json()["data"]

    assert (server["description"], cleared["description"]) == (None, None)
    assert (spec["description"], spec["sourceUrl"]) == (None, None)
    assert (credential["scheme"], credential["tokenUrl"]) == (None, None)


BAD_BASE_URLS = {
    "ftp scheme": ("ftp://files.example/pub", "is not an absolute http(s) URL"),
    "no scheme": ("files.example/pub", "is not an absolute http(s) URL"),
    "no host": ("http:///path", "is not an absolute http(s) URL"),
    "port too large": ("https://api.example:65536/v1", "invalid port"),
    "port zero": ("https://api.example:0/v1", "invalid port"),
    "port not a number": ("https://api.example:http/v1", "invalid port"),
    "space in the path": ("https://api.example/v 1", "whitespace or control characters"),
    "trailing newline": ("https://api.example/v1\n", "whitespace or control characters"),
    "leading space": (" https://api.example/v1", "whitespace or control characters"),
    "tab in the host": ("https://api\t.example", "whitespace or control characters"),
    "NUL": ("https://api.example/\x00", "Null characters are not allowed"),
    "DEL": ("https://api.example/\x7f", "whitespace or control characters"),
    "no-break space": ("https://api.example/\u00a0", "whitespace or control characters"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", BAD_BASE_URLS)
def test_base_url_is_validated_on_create_and_update(alice_client, kind):
    base_url, problem = BAD_BASE_URLS[kind]
    spec = create_spec(alice_client)
    server = create_server(alice_client, spec["id"])

    created = alice_client.post(
        "/api/servers", {"specId": spec["id"], "name": "x", "baseUrl": base_url}, format="json"
    )
    updated = alice_client.patch(
        f"/api/servers/{server['id']}", {"baseUrl": base_url}, format="json"
    )

    for response in (created, updated):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert list(error["details"]) == ["baseUrl"]
        assert problem in error["details"]["baseUrl"][0]
    assert Server.objects.get().base_url == "https://notes.example/v1"


@pytest.mark.django_db
def test_a_spec_server_url_with_whitespace_is_not_taken_as_the_base_url(alice_client):
    spec = create_spec(
        alice_client, with_servers(notes_document(), [{"url": "https://a b.example"}])
    )

    response = alice_client.post("/api/servers", {"specId": spec["id"], "name": "x"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["baseUrl"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:65535", "https://API.example:443/v1/", "https://[::1]:8080/x"]
)
def test_valid_base_urls_are_kept(alice_client, base_url):
    spec = create_spec(alice_client)
    created = create_server(alice_client, spec["id"], baseUrl=base_url)

    assert created["baseUrl"] == base_url.rstrip("/")
