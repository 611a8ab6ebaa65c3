"""Test support: a real spec, server and tools built through the engine, and an echoing upstream."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from accounts.models import User
from core.testing import RecordedRequest, json_reply
from servers.models import Server
from specs.engine import convert
from specs.models import Spec, SpecOperation
from tools.models import Tool


def server_from_document(
    *, user: User, document: dict[str, Any], base_url: str, slug: str = "upstream"
) -> Server:
    """Spec, operations, server and one tool per operation, as importing the spec would make."""
    result = convert(document)
    text = json.dumps(document)
    spec = Spec.objects.create(
        user=user,
        name=result.title or "Test API",
        title=result.title,
        version=result.version,
        format=result.format,
        original_text=text,
        document=document,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        operation_count=len(result.operations),
        servers=result.servers,
        security_schemes=result.security_schemes,
        security=result.security,
    )
    server = Server.objects.create(
        user=user,
        spec=spec,
        name=f"{slug} server",
        slug=f"{slug}-{spec.id.hex[:8]}",
        base_url=base_url,
    )
    for position, op in enumerate(result.operations):
        operation = SpecOperation.objects.create(
            spec=spec,
            key=op.key,
            operation_id=op.operation_id or "",
            method=op.method,
            path=op.path,
            summary=op.summary,
            tool_name=op.tool_name,
            tool_description=op.tool_description,
            input_schema=op.input_schema,
            output_schema=op.output_schema,
            annotations=op.annotations,
            mapping=op.mapping,
            security=op.security,
            servers=op.servers,
            fingerprint=op.fingerprint,
            position=position,
        )
        Tool.objects.create(server=server, operation=operation, name=op.tool_name)
    return server


def tool_named(server: Server, name: str) -> Tool:
    return Tool.objects.select_related("server", "operation").get(server=server, name=name)


def echo(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    """An upstream that answers with what it received (as APIs that echo keys back do)."""
    return json_reply(
        {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers.items()),
            "body": request.body.decode("utf-8", "replace"),
        }
    )


def operation(path: str, operation_id: str, security: Any = None, **extra: Any) -> dict[str, Any]:
    """One GET path item; `security` None leaves the operation without its own requirement."""
    op: dict[str, Any] = {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}
    if security is not None:
        op["security"] = security
    op.update(extra)
    return {path: {"get": op}}
