"""Servers, tools and call records for the usage tests, made straight in the database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from accounts.models import User
from servers.models import Server
from specs.models import Spec, SpecOperation
from tools.models import Tool
from usage.writer import CallRecord

_counter = itertools.count()


def make_server(user: User, name: str = "Pets", **fields: Any) -> Server:
    n = next(_counter)
    spec = Spec.objects.create(
        user=user,
        name=f"{name} spec",
        format="openapi-3.1",
        original_text="{}",
        document={},
        sha256=f"{n:064d}",
    )
    return Server.objects.create(
        user=user,
        spec=spec,
        name=name,
        slug=f"{name.lower().replace(' ', '-')}-{n}",
        base_url="http://127.0.0.1:9",
        **fields,
    )


def make_tool(
    server: Server, name: str = "get_pet", method: str = "GET", path: str = "/pets/{id}"
) -> Tool:
    operation = SpecOperation.objects.create(
        spec=server.spec,
        key=f"{method} {path}",
        method=method,
        path=path,
        tool_name=name,
        input_schema={"type": "object"},
        fingerprint=name,
    )
    return Tool.objects.create(server=server, operation=operation, name=name)


def make_record(tool: Tool, **overrides: Any) -> CallRecord:
    server = tool.server
    fields: dict[str, Any] = {
        "user_id": server.user_id,
        "server_id": server.id,
        "server_name": server.name,
        "tool_id": tool.id,
        "tool_name": tool.name,
        "source": "mcp",
        "method": tool.operation.method,
        "path": tool.operation.path,
        "status_code": 200,
        "duration_ms": 40,
        "upstream_ms": 30,
        "request_bytes": 10,
        "response_bytes": 120,
        "error_code": "",
        "key_prefix": "sgk_abcd",
        "client_name": "pytest",
        "created_at": datetime.now(UTC),
        "succeeded": True,
    }
    fields.update(overrides)
    return CallRecord(**fields)
