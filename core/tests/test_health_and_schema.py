from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_and_readyz_answer_ok():
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readyz_names_the_failing_component(settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


@pytest.mark.django_db
def test_the_schema_documents_the_envelope_and_errors():
    response = Client().get("/api/schema?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    listing = schema["paths"]["/api/tokens"]["get"]["responses"]
    assert "pagination" in str(schema["components"]["schemas"]) or "pagination" in str(listing)
    assert listing["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    create = schema["paths"]["/api/tokens"]["post"]["responses"]["201"]
    envelope = create["content"]["application/json"]["schema"]
    assert envelope["properties"]["success"] == {"type": "boolean", "enum": [True]}
    assert Client().get("/api/docs").status_code == 200
