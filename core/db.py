"""Database access from outside Django's request cycle (the MCP gateway's event loop)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, sync_to_async
from django.db import close_old_connections, connection

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger(__name__)

_writes_behind: set[asyncio.Task[None]] = set()


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


def sync_caller_waiting() -> bool:
    """Whether this coroutine runs under async_to_sync, with a sync thread waiting for it.

    asgiref keeps that thread's executor in `AsyncToSync.executors.current`;
    core/tests/test_db.py pins the behaviour so an asgiref upgrade that moves it fails there.
    """
    return getattr(AsyncToSync.executors, "current", None) is not None


async def run_orm(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Await FUNC, which uses the ORM, without blocking the event loop.

    On an event loop of its own (the gateway) FUNC runs on a pool thread: asgiref's
    thread-sensitive default would queue every such call of the process on one shared
    thread. Under async_to_sync (a Celery task, a test) it runs on the waiting caller's
    thread, as Django's own bridges do, so it shares that thread's connection and any
    transaction it has open.
    """
    waiting = sync_caller_waiting()
    return await sync_to_async(func, thread_sensitive=waiting)(*args, **kwargs)


async def write_behind(func: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
    """Start FUNC, an ORM write whose outcome the caller does not need, and return at once.

    On the gateway's loop the write runs on a pool thread while the request goes on; an
    error is logged, never raised. Under async_to_sync the loop ends when the caller's
    coroutine does, which would cancel a write still pending, so there FUNC runs on the
    waiting caller's thread before this returns.
    """
    waiting = sync_caller_waiting()
    write = sync_to_async(_logged(func), thread_sensitive=waiting)
    if waiting:
        await write(*args, **kwargs)
        return
    task = asyncio.get_running_loop().create_task(write(*args, **kwargs))
    _writes_behind.add(task)
    task.add_done_callback(_writes_behind.discard)


def _logged(func: Callable[P, object]) -> Callable[P, None]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Exception:
            logger.exception("Background database write %s failed", func.__qualname__)

    return run
