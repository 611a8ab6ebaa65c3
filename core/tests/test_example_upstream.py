"""The walkthrough's example upstream (examples/upstream/server.py) against its own spec."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest

from core.testing import free_port
from specs.engine import convert, load_document

ROOT = Path(__file__).resolve().parents[2]
SERVER_FILE = ROOT / "examples" / "upstream" / "server.py"
SPEC_FILE = ROOT / "examples" / "echostash.openapi.yaml"
KEY = {"X-API-KEY": "sk_demo_echostash"}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_upstream", SERVER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = load_example().make_server("127.0.0.1", 0, log=lambda line: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, **kwargs: Any) -> httpx2.Response:
    return httpx2.get(url, timeout=5, **kwargs)


def test_it_refuses_a_missing_or_wrong_key_with_the_documented_error(upstream):
    for headers in ({}, {"X-API-KEY": "sk_wrong"}):
        response = get(f"{upstream}/api/sdk/prompts/1", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == 401
        assert body["error"] == "Invalid or missing API key"
        assert body["path"] == "/api/sdk/prompts/1"
        assert body["timestamp"].endswith("Z")


def test_it_serves_a_prompt_with_its_published_version(upstream):
    response = get(f"{upstream}/api/sdk/prompts/1", headers=KEY)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "id": 1,
        "name": "Welcome Email",
        "description": "Personalized welcome email template for new users",
        "content": "Hello, {{name}}! Welcome to {{company}}.",
        "parameterSymbol": "{{}}",
        "publishedVersionNo": 3,
        "createdAt": "2024-01-15T10:30:00Z",
        "updatedAt": "2024-02-02T09:15:00Z",
    }


def test_it_serves_a_version_with_json_encoded_metadata(upstream):
    body = get(f"{upstream}/api/sdk/prompts/1/versions/2", headers=KEY).json()
    assert body["versionNo"] == 2
    assert body["content"] == "Hello, {{name}}! Welcome aboard."
    assert body["metadata"] == '{"author": "product-team", "notes": "Simplified greeting"}'


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"variables": {"name": "Ada", "company": "Acme"}},
            {"content": "Hello, Ada! Welcome to Acme.", "promptId": 1, "versionNo": 3},
        ),
        (
            {"variables": {"name": "Ada"}, "version": "2"},
            {"content": "Hello, Ada! Welcome aboard.", "promptId": 1, "versionNo": 2},
        ),
        (
            {"variables": {"name": "Ada"}, "version": "latest"},
            {
                "content": "Hey Ada, great to have you at {{company}}!",
                "promptId": 1,
                "versionNo": 4,
            },
        ),
    ],
)
def test_it_renders_the_published_a_numbered_or_the_latest_version(upstream, payload, expected):
    response = httpx2.post(
        f"{upstream}/api/sdk/prompts/1/render", json=payload, headers=KEY, timeout=5
    )
    assert response.status_code == 200
    assert response.json() == expected


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/api/sdk/prompts/99", None, 404, "Prompt not found"),
        ("GET", "/api/sdk/prompts/abc", None, 404, "Prompt not found"),
        ("GET", "/api/sdk/prompts/1/versions/9", None, 404, "Version not found"),
        ("POST", "/api/sdk/prompts/1/render", b"{not json", 400, "Body is not valid JSON"),
        ("POST", "/api/sdk/prompts/1/render", b'{"variables": 1}', 400, None),
        ("POST", "/api/sdk/prompts/1/render", b'{"variables": {}, "version": "7"}', 404, None),
        ("GET", "/api/sdk/prompts/1/render", None, 405, "Method not allowed"),
        ("GET", "/elsewhere", None, 404, "Not found"),
    ],
)
def test_it_answers_bad_requests_with_the_documented_error_shape(
    upstream, method, path, body, status, error
):
    response = httpx2.request(method, upstream + path, content=body, headers=KEY, timeout=5)
    assert response.status_code == status
    assert response.json()["status"] == status
    assert response.json()["path"] == path
    if error:
        assert response.json()["error"] == error


def test_its_spec_becomes_three_tools_aimed_at_the_local_upstream():
    result = convert(load_document(SPEC_FILE.read_text()))
    assert result.warnings == []
    assert result.servers == ["http://127.0.0.1:9400"]
    assert list(result.security_schemes) == ["ApiKeyAuth"]
    names = {operation.tool_name for operation in result.operations}
    assert names == {"getPrompt", "getPromptVersion", "renderPrompt"}


def test_it_starts_with_one_command_and_logs_each_request_without_the_key():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER_FILE), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        assert get(f"http://127.0.0.1:{port}/api/sdk/prompts/2", headers=KEY).status_code == 200
        assert (
            process.stdout.readline().strip() == "GET /api/sdk/prompts/2 -> 200 (X-API-KEY: valid)"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
