"""Small asyncio helpers for code that serves several event loops (workers, test servers)."""

from __future__ import annotations

import asyncio
import weakref

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def keyed_lock(key: str) -> asyncio.Lock:
    """The running event loop's lock for KEY (an asyncio lock belongs to one loop)."""
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = per_loop.get(key)
    if lock is None:
        lock = per_loop[key] = asyncio.Lock()
    return lock
