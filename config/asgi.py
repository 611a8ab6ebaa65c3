"""The production entry point: one ASGI app for the whole product.

`/mcp/...` goes straight to the lean MCP gateway (gateway/), past Django's
request handling, which costs more than the whole call path; everything else
(REST API, admin, docs) goes to Django. Django's handler rejects lifespan
events, so this app owns the lifespan: it starts the request-log writer and
flushes it on shutdown so no record is lost on a normal stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import django
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)
from core.observability.instrumentation import start_tracing  # noqa: E402

# Before Django builds its middleware chain: the REST request spans come from a middleware.
start_tracing(service_name="specgate-web", web=True)
django_app = get_asgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)
from django.urls import get_resolver  # noqa: E402

from core import outbound  # noqa: E402
from core.errors import error_body_for_status  # noqa: E402
from core.observability import tracing  # noqa: E402
from gateway.app import McpApp  # noqa: E402
from gateway.registry import DjangoRegistry, allowed_origins, credential_provider  # noqa: E402
from usage.recorder import recorder  # noqa: E402

logger = logging.getLogger(__name__)

registry = DjangoRegistry(provider=credential_provider())
mcp_app = McpApp(
    registry,
    allowed_hosts=settings.ALLOWED_HOSTS,
    allowed_origins=allowed_origins(),
    resource_metadata_base=settings.PUBLIC_BASE_URL,
)
# Django imports the URLconf (and with it every view module) at the first request. Under
# gunicorn with preload_app, importing it here, in the arbiter, puts those modules in pages
# the workers share instead of in a copy each.
get_resolver().url_patterns  # noqa: B018


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            recorder.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await asyncio.to_thread(recorder.stop)
                await outbound.aclose_pools()
                await asyncio.to_thread(tracing.stop)
            except Exception:
                logger.exception("shutdown did not complete cleanly")
            await send({"type": "lifespan.shutdown.complete"})
            return


class _BodyTooLarge(Exception):
    pass


async def _django_with_body_cap(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Django, with the request body capped as it streams in.

    A declared Content-Length over the cap is refused by RequestSizeLimitMiddleware; a
    chunked body has none, and Django would spool all of it to disk before any middleware
    runs. Django reads the whole body before it answers, so a 413 can still be sent here.
    """
    limit = settings.REQUEST_MAX_BYTES
    received = 0

    async def capped_receive() -> Any:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
        return message

    try:
        await django_app(scope, capped_receive, send)
    except _BodyTooLarge:
        body = json.dumps(error_body_for_status(413)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(receive, send)
    elif kind == "http" and scope["path"].startswith("/mcp/"):
        await mcp_app(scope, receive, send)
    elif kind == "http":
        await _django_with_body_cap(scope, receive, send)
    else:
        await django_app(scope, receive, send)
