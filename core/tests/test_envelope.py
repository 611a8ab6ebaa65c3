"""Every error code of the envelope (docs/api.md), from the real handlers."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("core.tests.urls")]


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_malformed_json_is_a_validation_error(alice_client):
    response = alice_client.post("/api/tokens", data="{not json", content_type="application/json")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "body" in error["details"]


def test_missing_auth_is_auth_error():
    assert_error(APIClient().get("/api/tokens"), 401, "AUTH_ERROR")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("forbidden", 403, "FORBIDDEN"),
        ("conflict", 409, "CONFLICT"),
        ("rate", 429, "RATE_LIMIT"),
        ("upstream", 502, "UPSTREAM_ERROR"),
    ],
)
def test_application_errors_keep_their_code(kind, status, code):
    response = APIClient().post(f"/api/test-raise/{kind}", {}, format="json")
    error = assert_error(response, status, code)
    if kind == "rate":
        assert response["Retry-After"] == "7"
        assert error["details"] == {"reason": "rate_limit", "retryAfterSeconds": 7}


def test_unknown_api_path_is_json_404_not_html(alice_client):
    for path in ("/api/nope", "/api/", "/api", "/api/tokens/not-a-uuid"):
        assert_error(alice_client.get(path), 404, "NOT_FOUND")


def test_wrong_method_is_405(alice_client):
    response = alice_client.put("/api/tokens", {}, format="json")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")


def test_wrong_content_type_is_415(alice_client):
    response = alice_client.post("/api/tokens", data="name=x", content_type="text/plain")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_an_unexpected_exception_is_500_without_internals():
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/test-raise/crash", {}, format="json")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "passwd" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["message"] == "Internal server error"


def test_body_over_the_limit_is_413(settings):
    settings.REQUEST_MAX_BYTES = 1000
    response = APIClient().post(
        "/api/test-raise/echo", data="x" * 2000, content_type="application/json"
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_spec_sized_json_body_is_accepted():
    from django.conf import settings

    filler = "a" * settings.SPEC_MAX_BYTES
    response = APIClient().post(
        "/api/test-raise/echo", data=f'{{"content": "{filler}"}}', content_type="application/json"
    )
    assert response.status_code == 200
    assert len(response.json()["data"]["received"]["content"]) == settings.SPEC_MAX_BYTES


def test_a_tampered_cursor_is_a_validation_error(alice_client):
    for _ in range(3):
        alice_client.post("/api/tokens", {"name": "t"}, format="json")
    page = alice_client.get("/api/tokens?limit=2").json()
    cursor = page["pagination"]["nextCursor"]
    assert page["pagination"]["hasMore"] is True
    assert len(alice_client.get(f"/api/tokens?cursor={cursor}").json()["data"]) == 1
    error = assert_error(
        alice_client.get(f"/api/tokens?cursor={cursor[:-2]}xx"), 400, "VALIDATION_ERROR"
    )
    assert "cursor" in error["details"]
    assert_error(alice_client.get("/api/tokens?limit=500"), 400, "VALIDATION_ERROR")


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_limit_is_413_under_asgi(settings):
    import httpx2

    from config.asgi import application
    from gateway.testing import serve_on_loopback

    settings.REQUEST_MAX_BYTES = 64 * 1024

    def chunks():
        for _ in range(10):
            yield b"x" * 16 * 1024

    with serve_on_loopback(application) as url:
        response = httpx2.post(
            f"{url}/api/tokens", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
