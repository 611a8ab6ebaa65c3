"""The production entry point: one ASGI app for the whole product.

Django's ASGI handler serves the REST API, the admin and the docs. It rejects
lifespan events, so this top-level app owns the lifespan and keeps Django for
HTTP. The MCP endpoint is routed here, past Django's request handling, to the
lean gateway (see gateway/).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_app = get_asgi_application()

Scope = dict[str, Any]


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await django_app(scope, receive, send)
