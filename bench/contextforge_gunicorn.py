"""Gunicorn settings for the ContextForge peer (bench/contextforge_peer.py starts it with them).

The package on PyPI ships neither its gunicorn.config.py nor run-gunicorn.sh; these are the parts
of both (IBM/mcp-context-forge) that shape a benchmark: uvicorn workers, the app preloaded in
the master, one SO_REUSEPORT socket per worker, no access log, and after each fork the
SQLAlchemy pool and the Redis client of the master dropped, as their post_fork hook does. The
worker count, bind address and timeouts come on the command line (run-gunicorn.sh's flags).
"""

from __future__ import annotations

from typing import Any

worker_class = "uvicorn.workers.UvicornWorker"
preload_app = True
reuse_port = True
accesslog = None
errorlog = "-"
loglevel = "warning"


def post_fork(server: Any, worker: Any) -> None:
    from mcpgateway.db import engine

    engine.dispose(close=False)
    from mcpgateway.utils.redis_client import _reset_client

    _reset_client()
