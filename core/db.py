"""Database access from outside Django's request cycle (the MCP gateway's event loop)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import close_old_connections, connection

P = ParamSpec("P")
R = TypeVar("R")


def usable_connection(func: Callable[P, R]) -> Callable[P, R]:
    """Run FUNC as Django runs a request: first drop a connection that is broken or too old.

    The gateway reaches the ORM through sync_to_async, past Django's handler, so the
    request signals that normally close a connection broken by a database restart never
    fire: without this, the thread keeps its dead connection and every later query fails
    with "the connection is closed". With CONN_HEALTH_CHECKS the next query also checks
    the kept connection first (one round trip), so a connection the server closed while
    idle is replaced before it is used.
    """

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # Inside a transaction (a REST request's atomic block, a test) the connection is in
        # use and must not be swapped; a broken one will fail that transaction anyway.
        if not connection.in_atomic_block:
            close_old_connections()
        return func(*args, **kwargs)

    return run
