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
local cost = tonumber(ARGV[3])
local n = #KEYS / 2
for i = 1, n do
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if current + cost + previous * weight > tonumber(ARGV[3 + i]) then
    return {i, current, previous}
  end
end
for i = 1, n do
  if redis.call('INCRBY', KEYS[2 * i - 1], cost) == cost then
    redis.call('EXPIRE', KEYS[2 * i - 1], ttl)
  end
end
return {0, 0, 0}
"""
# The gateway reserves budget in leases of up to LEASE_MAX requests (about 2% of a limit), so
# a busy worker asks Redis once per lease instead of once per request. Reserved units count
# in Redis at once, so the shared limit is never exceeded; at worst a worker holds a few
# unused units until the minute ends. Small limits (under 100 a minute) lease one at a time.
LEASE_MAX = 50
_LEASE_FRACTION = 50


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
    return str(settings.RATE_LIMIT_KEY_PREFIX)


def _keys(limits: list[Limit], window: _Window) -> list[str]:
    prefix = _prefix()
    keys: list[str] = []
    for limit in limits:
        keys.append(f"{prefix}{limit.key}:{window.number}")
        keys.append(f"{prefix}{limit.key}:{window.number - 1}")
    return keys


def _args(limits: list[Limit], window: _Window, cost: int = 1) -> list[Any]:
    return [
        repr(window.previous_weight),
        _KEY_TTL_SECONDS,
        cost,
        *(lim.per_minute for lim in limits),
    ]


def lease_size(limits: list[Limit]) -> int:
    return max(1, min(LEASE_MAX, *(lim.per_minute // _LEASE_FRACTION for lim in limits)))


class _Leases:
    """Units this process reserved in Redis and has not used yet, per limits and window."""

    def __init__(self) -> None:
        self._left: dict[tuple[str | tuple[str, ...], int], int] = {}
        self._lock = threading.Lock()

    def take(self, key: str | tuple[str, ...], window: int) -> bool:
        with self._lock:
            left = self._left.get((key, window), 0)
            if left <= 0:
                return False
            self._left[(key, window)] = left - 1
            return True

    def add(self, key: str | tuple[str, ...], window: int, units: int) -> None:
        with self._lock:
            self._left = {slot: n for slot, n in self._left.items() if slot[1] >= window}
            self._left[(key, window)] = self._left.get((key, window), 0) + units

    def reset(self) -> None:
        with self._lock:
            self._left.clear()


_leases = _Leases()


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
    return str(settings.REDIS_URL or "")


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


def take_leased(key: str) -> bool:
    """Use one unit this worker already leased for the single limit KEY, if it has one.

    The gateway's fast path; False means "ask `ahit`" (no lease left, or no Redis).
    """
    return bool(_redis_url()) and _leases.take(key, int(time.time() // WINDOW_SECONDS))


async def ahit(limits: list[Limit]) -> Wait | None:
    """`hit` for the event loop: a Redis round trip per lease of budget (see LEASE_MAX)."""
    url = _redis_url()
    if not url:
        return _local.hit(limits, _window())
    # The common case, once per call: a unit of this worker's lease, no I/O.
    now = time.time()
    lease_key = limits[0].key if len(limits) == 1 else tuple(limit.key for limit in limits)
    if _leases.take(lease_key, int(now // WINDOW_SECONDS)):
        return None
    window = _window(now)
    _, script = _async_client(url)
    keys = _keys(limits, window)
    lease = lease_size(limits)
    try:
        reply = await script(keys=keys, args=_args(limits, window, lease))
        if lease > 1 and int(reply[0]) != 0:
            # Not enough left for a whole lease: the last units go one at a time.
            lease = 1
            reply = await script(keys=keys, args=_args(limits, window))
    except redis.RedisError:
        _note_outage()
        return None
    wait = _wait(reply, limits, window)
    if wait is None and lease > 1:
        _leases.add(lease_key, window.number, lease - 1)
    return wait


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
    _leases.reset()
