"""A fast local upstream for the gateway benchmark: python bench/upstream.py PORT.

A bare ASGI app under uvicorn answering GET /items/{id} with a small JSON object,
so the benchmark measures the gateway, not the upstream.
"""

from __future__ import annotations

import json
import sys

import uvicorn


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.startswith("/items/"):
        item_id = path.rsplit("/", 1)[-1]
        body = json.dumps(
            {"id": item_id, "name": f"Item {item_id}", "price": 9.5, "tags": ["a", "b"]}
        )
        status = 200
    else:
        body, status = '{"message": "not found"}', 404
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
