"""Throughput of the MCP protocol layer alone: `tools/call` against an in-memory registry.

No upstream, database or Redis: this measures what `gateway.app` itself costs
per call (parsing, routing, admission hook, argument validation, encoding).
Runs uvicorn (uvloop, httptools, one worker) in a child process and wrk
(16 connections, 2 threads) against it for a bounded time, for both eras.

    .venv/bin/python bench/mcp_protocol.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.app import McpApp  # noqa: E402
from gateway.runtime import CallContext, Caller, Refusal, ServerRuntime, ToolRuntime  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
}
CASES = {
    "legacy tools/call": (
        {"mcp-protocol-version": "2025-11-25"},
        {"name": "forecast", "arguments": {"city": "Oslo", "days": 3}},
    ),
    "2026-07-28 tools/call": (
        {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "forecast"},
        {"name": "forecast", "arguments": {"city": "Oslo", "days": 3}, "_meta": MODERN_META},
    ),
}


class BenchRegistry:
    """A private server with a key and a tool whose call returns a fixed JSON result."""

    def __init__(self) -> None:
        tools = [ToolRuntime(f"tool_{n}", None, f"Tool {n}", SCHEMA, None, {}) for n in range(150)]
        tools.append(ToolRuntime("forecast", "Forecast", "Weather", SCHEMA, None, {}))
        self.server = ServerRuntime(
            "srv_1", "weather", "user_1", "Weather", "1.0", "private",
            tuple(tools), {tool.name: tool for tool in tools},
        )  # fmt: skip

    async def get_server(self, slug: str) -> ServerRuntime | None:
        return self.server if slug == "weather" else None

    async def authenticate(self, server: ServerRuntime, bearer: str | None) -> Any:
        return Caller("sk_bench") if bearer == "sk_bench_secret" else False

    async def admit(self, server: ServerRuntime, ctx: CallContext, method: str) -> Refusal | None:
        return None

    async def call_tool(
        self, server: ServerRuntime, tool: ToolRuntime, arguments: dict, ctx: CallContext
    ) -> dict:
        return {
            "content": [{"type": "text", "text": '{"temp": 21}'}],
            "structuredContent": {"temp": 21},
            "isError": False,
        }

    def record_rejected_call(self, *args: Any, **kwargs: Any) -> None:
        pass


def app() -> McpApp:
    return McpApp(BenchRegistry(), allowed_hosts=["127.0.0.1"], allowed_origins=[])


def wrk_script(headers: dict[str, str], params: dict[str, Any]) -> str:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(body)}",
        'wrk.headers["Content-Type"] = "application/json"',
        'wrk.headers["Accept"] = "application/json, text/event-stream"',
        'wrk.headers["Authorization"] = "Bearer sk_bench_secret"',
        *(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()),
    ]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def run_wrk(url: str, script: str, seconds: int) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", lua.name, url]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def summary(output: str) -> str:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (
        f"{float(rate.group(1)) if rate else 0:8.0f} req/s  p50 {p50.group(1) if p50 else '?':>8}"
        f"  p99 {p99.group(1) if p99 else '?':>8}  non-2xx {errors.group(1) if errors else 0}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "bench.mcp_protocol:app", "--factory",
            "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning",
        ],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_for(port)
        url = f"http://127.0.0.1:{port}/mcp/weather"
        for name, (headers, params) in CASES.items():
            print(f"{name:24} {summary(run_wrk(url, wrk_script(headers, params), args.seconds))}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
