"""The gateway with logging, metering and enforcement switched off, for the overhead comparison.

Same app and registry as config.asgi, except that admission always passes and calls are not
recorded; key checks stay on. Benchmark use only:
    gunicorn -c config/gunicorn.py bench.asgi_unmetered:application
"""

from __future__ import annotations

from typing import Any

from config.asgi import django_app, settings
from core.http import upstream_options
from gateway.app import McpApp
from gateway.registry import DjangoRegistry, allowed_origins, credential_provider
from gateway.runtime import CallContext, Refusal, ServerRuntime, ToolRuntime
from tools.calling import execute_call


class UnmeteredRegistry(DjangoRegistry):
    async def admit(self, server: ServerRuntime, ctx: CallContext, method: str) -> Refusal | None:
        return None

    async def call_tool(
        self, server: ServerRuntime, tool: ToolRuntime, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        outcome = await execute_call(
            tool.ref, arguments, provider=self._provider, options=upstream_options()
        )
        return outcome.result

    def record_rejected_call(self, *args: Any, **kwargs: Any) -> None:
        return None


mcp_app = McpApp(
    UnmeteredRegistry(provider=credential_provider()),
    allowed_hosts=settings.ALLOWED_HOSTS,
    allowed_origins=allowed_origins(),
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    to_gateway = scope["type"] == "lifespan" or scope["path"].startswith("/mcp/")
    if to_gateway:
        await mcp_app(scope, receive, send)
    else:
        await django_app(scope, receive, send)
