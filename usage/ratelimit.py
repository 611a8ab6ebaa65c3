"""Per-minute request limits shared by every worker: Redis when configured, else process memory.

A sliding-window estimate over two fixed one-minute windows: the current
window's count plus the previous window's count weighted by how much of it still
overlaps the last 60 seconds. One Lua script checks every limit of a request and,
only when all pass, counts the request in each: one atomic round trip, and
refused requests do not use up the budget.

If Redis is unreachable the limiter lets requests through (and logs it): a cache
outage must not take the product down.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aredis
from django.conf import settings

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
_KEY_TTL_SECONDS = 2 * WINDOW_SECONDS + 5
_OUTAGE_WARNING_EVERY_SECONDS = 30.0

_SCRIPT = """
local weight = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n = #KEYS / 2
for i = 1, n do
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if current + 1 + previous * weight > tonumber(ARGV[2 + i]) then
    return {i, current, previous}
  end
end
for i = 1, n do
  if redis.call('INCR', KEYS[2 * i - 1]) == 1 then
    redis.call('EXPIRE', KEYS[2 * i - 1], ttl)
  end
end
return {0, 0, 0}
"""


@dataclass(frozen=True)
class Limit:
    key: str
    per_minute: int


@dataclass(frozen=True)
class Wait:
    index: int
    """Which of the request's limits refused it."""
    seconds: int


@dataclass(frozen=True)
class _Window:
    number: int
    elapsed: float

    @property
    def previous_weight(self) -> float:
        return (WINDOW_SECONDS - self.elapsed) / WINDOW_SECONDS


def _window(now: float | None = None) -> _Window:
    now = time.time() if now is None else now
    number = int(now // WINDOW_SECONDS)
    return _Window(number=number, elapsed=now - number * WINDOW_SECONDS)


def retry_after(current: int, previous: int, limit: int, elapsed: float) -> int:
    """Seconds until one more request fits, if nobody else asks meanwhile."""
    left_in_window = WINDOW_SECONDS - elapsed
    if current + 1 <= limit and previous > 0:
        wait = left_in_window - WINDOW_SECONDS * (limit - current - 1) / previous
        return max(1, math.ceil(wait))
    if current == 0 or limit < 1:
        return max(1, math.ceil(left_in_window))
    into_next = WINDOW_SECONDS - WINDOW_SECONDS * (limit - 1) / current
    return max(1, math.ceil(left_in_window + max(0.0, into_next)))


def _prefix() -> str:
    return str(getattr(settings, "RATE_LIMIT_KEY_PREFIX", "sg:rl:"))


def _keys(limits: list[Limit], window: _Window) -> list[str]:
    prefix = _prefix()
    keys: list[str] = []
    for limit in limits:
        keys.append(f"{prefix}{limit.key}:{window.number}")
        keys.append(f"{prefix}{limit.key}:{window.number - 1}")
    return keys


def _args(limits: list[Limit], window: _Window) -> list[Any]:
    return [repr(window.previous_weight), _KEY_TTL_SECONDS, *(lim.per_minute for lim in limits)]


def _wait(reply: list[Any], limits: list[Limit], window: _Window) -> Wait | None:
    index, current, previous = (int(value) for value in reply)
    if index == 0:
        return None
    limit = limits[index - 1]
    return Wait(
        index=index - 1,
        seconds=retry_after(current, previous, limit.per_minute, window.elapsed),
    )


# --- Redis -------------------------------------------------------------------------------

_sync_clients: dict[str, tuple[redis.Redis, Any]] = {}
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[aredis.Redis, Any]]
] = weakref.WeakKeyDictionary()
_last_outage_warning = 0.0


def _redis_url() -> str:
    return str(getattr(settings, "REDIS_URL", "") or "")


def _sync_client(url: str) -> tuple[redis.Redis, Any]:
    entry = _sync_clients.get(url)
    if entry is None:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        entry = _sync_clients[url] = (client, client.register_script(_SCRIPT))
    return entry


def _async_client(url: str) -> tuple[aredis.Redis, Any]:
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    entry = per_loop.get(url)
    if entry is None:
        client = aredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        entry = per_loop[url] = (client, client.register_script(_SCRIPT))
    return entry


def _note_outage() -> None:
    global _last_outage_warning
    now = time.monotonic()
    if now - _last_outage_warning >= _OUTAGE_WARNING_EVERY_SECONDS:
        _last_outage_warning = now
        logger.warning("Rate limiter cannot reach Redis; requests pass unlimited", exc_info=True)


def hit(limits: list[Limit]) -> Wait | None:
    """Count one request against every limit, or return the wait when one is exhausted."""
    window = _window()
    url = _redis_url()
    if not url:
        return _local.hit(limits, window)
    _, script = _sync_client(url)
    try:
        reply = script(keys=_keys(limits, window), args=_args(limits, window))
    except redis.RedisError:
        _note_outage()
        return None
    return _wait(reply, limits, window)


async def ahit(limits: list[Limit]) -> Wait | None:
    """`hit` for the event loop (one Redis round trip)."""
    window = _window()
    url = _redis_url()
    if not url:
        return _local.hit(limits, window)
    _, script = _async_client(url)
    try:
        reply = await script(keys=_keys(limits, window), args=_args(limits, window))
    except redis.RedisError:
        _note_outage()
        return None
    return _wait(reply, limits, window)


# --- Process memory (no Redis: one process, the embedded default) -------------------------


class _LocalWindows:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._latest = 0

    def hit(self, limits: list[Limit], window: _Window) -> Wait | None:
        with self._lock:
            self._prune(window.number)
            for index, limit in enumerate(limits):
                current = self._counts.get((limit.key, window.number), 0)
                previous = self._counts.get((limit.key, window.number - 1), 0)
                if current + 1 + previous * window.previous_weight > limit.per_minute:
                    seconds = retry_after(current, previous, limit.per_minute, window.elapsed)
                    return Wait(index=index, seconds=seconds)
            for limit in limits:
                slot = (limit.key, window.number)
                self._counts[slot] = self._counts.get(slot, 0) + 1
            return None

    def _prune(self, number: int) -> None:
        if number == self._latest:
            return
        self._latest = number
        self._counts = {slot: n for slot, n in self._counts.items() if slot[1] >= number - 1}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


_local = _LocalWindows()


def reset_local() -> None:
    _local.reset()
