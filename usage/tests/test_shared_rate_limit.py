"""Two OS processes, one budget: the per-minute limit lives in Redis, not in a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import redis

from core.testing import require

REDIS_URL = "redis://127.0.0.1:6379/15"
ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    import django
    django.setup()
    from django.conf import settings
    prefix, mode, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    settings.RATE_LIMIT_KEY_PREFIX = prefix
    from usage import ratelimit
    limits = [ratelimit.Limit("user:shared", 40)]
    while time.time() < start_at:
        time.sleep(0.005)
    if mode == "async":
        async def run():
            results = []
            for _ in range(50):
                results.append(await ratelimit.ahit(limits))
                await asyncio.sleep(0.003)
            return results
        results = asyncio.run(run())
    else:
        results = []
        for _ in range(50):
            results.append(ratelimit.hit(limits))
            time.sleep(0.003)
    print(sum(result is None for result in results))
    """
)


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def wait_clear_of_a_minute_boundary() -> None:
    """Both processes must count in one window for the total to be exact."""
    if time.time() % 60 > 55:
        time.sleep(61 - time.time() % 60)


@pytest.mark.services
def test_two_processes_share_one_rate_limit_budget_through_redis():
    require(redis_answers(), "Redis on 127.0.0.1:6379")
    prefix = f"sg:test:{uuid.uuid4().hex}:"
    env = os.environ | {"REDIS_URL": REDIS_URL, "DJANGO_SETTINGS_MODULE": "config.settings"}
    wait_clear_of_a_minute_boundary()
    start_at = str(time.time() + 1.5)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, prefix, mode, start_at],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("sync", "async")
    ]
    try:
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)

    allowed = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    # Each process alone would be allowed 40: together they got 40, not 80.
    assert sum(allowed) == 40


@pytest.mark.services
def test_leases_cut_round_trips_and_never_exceed_the_shared_budget(settings):
    import asyncio

    from usage import ratelimit

    require(redis_answers(), "Redis on 127.0.0.1:6379")
    prefix = f"sg:test:{uuid.uuid4().hex}:"
    settings.REDIS_URL = REDIS_URL
    settings.RATE_LIMIT_KEY_PREFIX = prefix
    ratelimit.reset_local()
    wait_clear_of_a_minute_boundary()
    limits = [ratelimit.Limit("user:leased", 1000)]
    assert ratelimit.lease_size(limits) == 20
    client = redis.Redis.from_url(REDIS_URL)
    counter = f"{prefix}user:leased:{int(time.time() // 60)}"

    async def hits(count: int) -> list:
        return [await ratelimit.ahit(limits) for _ in range(count)]

    try:
        assert all(wait is None for wait in asyncio.run(hits(30)))
        # Two leases of 20 were reserved for 30 requests: two round trips, not thirty.
        assert int(client.get(counter) or 0) == 40
        # Another worker (simulated by the counter) takes the rest of the minute's budget.
        client.incrby(counter, 1000 - 40)
        results = asyncio.run(hits(15))
        # The 10 units still leased here pass; then the budget is exhausted.
        assert [wait is None for wait in results] == [True] * 10 + [False] * 5
        assert int(client.get(counter) or 0) == 1000
    finally:
        ratelimit.reset_local()
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
