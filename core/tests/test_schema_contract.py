"""What our own OpenAPI schema says about the contract's shapes: deletes, 401s and 503s."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture(scope="module")
def api_schema(django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


DELETES = [
    "/api/tokens/{token_id}",
    "/api/specs/{spec_id}",
    "/api/servers/{server_id}",
    "/api/servers/{server_id}/keys/{key_id}",
    "/api/credentials/{credential_id}",
    "/api/servers/{server_id}/grants/{grant_id}",
    "/api/grants/{grant_id}",
    "/api/connections/{connection_id}",
]


@pytest.mark.parametrize("path", DELETES)
def test_every_delete_is_documented_as_200_with_the_deleted_id(api_schema, path):
    responses = api_schema["paths"][path]["delete"]["responses"]
    assert "204" not in responses
    body = responses["200"]["content"]["application/json"]["schema"]
    assert body["properties"]["data"] == {"$ref": "#/components/schemas/Deleted"}
    deleted = api_schema["components"]["schemas"]["Deleted"]
    assert sorted(deleted["required"]) == ["deleted", "id"]
    assert deleted["properties"]["deleted"]["enum"] == [True]


def test_the_delete_operations_are_all_of_them(api_schema):
    deletes = [path for path, item in api_schema["paths"].items() if "delete" in item]
    assert sorted(deletes) == sorted(DELETES)


def test_401_documents_the_challenge_and_503_its_code_and_retry_after(api_schema):
    responses = api_schema["paths"]["/api/servers"]["get"]["responses"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
    codes = api_schema["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert "SERVICE_UNAVAILABLE" in codes["code"]["enum"]


def test_credential_bodies_are_one_of_the_credential_types(api_schema):
    body = api_schema["paths"]["/api/credentials"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    variants = api_schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["oneOf"]
    kinds = sorted(variant["properties"]["type"]["enum"][0] for variant in variants)
    assert kinds == [
        "apiKey",
        "apiKey",
        "basic",
        "bearer",
        "oauth2AuthorizationCode",
        "oauth2ClientCredentials",
    ]
    assert all(variant["additionalProperties"] is False for variant in variants)


def test_webhooks_document_their_signature_headers(api_schema):
    def headers(path: str) -> set[str]:
        parameters = api_schema["paths"][path]["post"]["parameters"]
        return {p["name"] for p in parameters if p["in"] == "header" and p["required"]}

    assert headers("/api/webhooks/stripe") == {"Stripe-Signature"}
    assert headers("/api/webhooks/clerk") == {"svix-id", "svix-timestamp", "svix-signature"}
