"""A tiny ASGI app answering with its process id, how many objects the collector froze and
the id of the process that imported it (tests of config/gunicorn.py)."""

import gc
import os
from typing import Any

IMPORTED_BY = os.getpid()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"{os.getpid()} {gc.get_freeze_count()} {IMPORTED_BY}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
