"""Small asyncio helpers for code that serves several event loops (workers, test servers)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _SharedLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _SharedLock]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def keyed_lock(key: str) -> AsyncIterator[None]:
    """Hold the running event loop's lock for KEY (an asyncio lock belongs to one loop).

    A key's lock lives only while a task holds it or waits for it, so keys chosen by
    clients (a flood of made-up server slugs) leave nothing behind.
    """
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    shared = per_loop.get(key)
    if shared is None:
        shared = per_loop[key] = _SharedLock()
    shared.users += 1
    try:
        async with shared.lock:
            yield
    finally:
        shared.users -= 1
        if shared.users == 0:
            del per_loop[key]


def held_lock_count() -> int:
    """How many keyed locks the running event loop keeps (held or awaited)."""
    return len(_locks.get(asyncio.get_running_loop(), {}))
