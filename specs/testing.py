"""Small OpenAPI documents and helpers shared by the specs, servers and tools API tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

EXAMPLE_SPEC = Path(__file__).resolve().parents[1] / "examples" / "tasklane.openapi.yaml"


def _operation(operation_id: str | None, summary: str, tags: list[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": tags,
        "responses": {"200": {"description": "OK"}},
    }
    if operation_id:
        operation["operationId"] = operation_id
    return operation


def notes_document(**info: Any) -> dict[str, Any]:
    """A four-operation API: two tags, one operation without an operationId."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Notes API", "version": "1.0", **info},
        "servers": [
            {"url": "https://notes.example/{version}", "variables": {"version": {"default": "v1"}}}
        ],
        "paths": {
            "/notes": {
                "get": _operation("listNotes", "List notes", ["notes"]),
                "post": _operation("createNote", "Create a note", ["notes"]),
            },
            "/notes/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "delete": _operation("deleteNote", "Delete a note", ["notes"]),
            },
            "/health": {"get": _operation(None, "Health check", ["ops"])},
        },
    }


def with_servers(document: dict[str, Any], servers: list[dict[str, Any]] | None) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    if servers is None:
        changed.pop("servers", None)
    else:
        changed["servers"] = servers
    return changed


def create_spec(client: APIClient, document: dict[str, Any] | None = None, **extra: Any) -> dict:
    response = client.post(
        "/api/specs", {"document": document or notes_document(), **extra}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["data"]


def create_server(client: APIClient, spec_id: str, **extra: Any) -> dict:
    body = {"specId": spec_id, "name": "Notes", **extra}
    response = client.post("/api/servers", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["data"]


def tools_of(client: APIClient, server_id: str) -> dict[str, dict]:
    """The server's tools keyed by operation key (METHOD /path)."""
    data = client.get(f"/api/servers/{server_id}/tools?limit=200").json()["data"]
    return {f"{tool['method']} {tool['path']}": tool for tool in data}


# A small Swagger 2.0 document (the spec API tests, and the migration that converts stored
# Swagger documents).
SWAGGER_PETS = {
    "swagger": "2.0",
    "info": {"title": "Pets", "version": "1"},
    "host": "pets.example",
    "basePath": "/v1",
    "paths": {
        "/pets": {
            "post": {
                "consumes": ["application/json"],
                "parameters": [
                    {
                        "name": "pet",
                        "in": "body",
                        "required": True,
                        "schema": {"$ref": "#/definitions/Pet"},
                    },
                    {
                        "name": "tags",
                        "in": "query",
                        "type": "array",
                        "items": {"type": "string"},
                        "collectionFormat": "pipes",
                    },
                ],
                "responses": {"201": {"description": "made"}},
            }
        }
    },
    "definitions": {
        "Pet": {"type": "object", "properties": {"name": {"type": "string", "x-nullable": True}}}
    },
}
