"""Which thread the event loop's database work runs on, and whether anyone waits for it.

On an event loop of its own (the gateway) ORM work must not queue on asgiref's one shared
thread, and a write nobody needs must not hold up the request; under async_to_sync (a
Celery task, a test) it must run on the waiting caller's thread. These tests pin the
asgiref behaviour `core.db` relies on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from asgiref.sync import async_to_sync

from core.db import run_orm, sync_caller_waiting, write_behind
from core.testing import asgiref_shared_thread_held

WAIT_SECONDS = 10


def test_it_knows_when_a_sync_caller_waits() -> None:
    async def ask() -> bool:
        return sync_caller_waiting()

    assert async_to_sync(ask)() is True
    assert asyncio.run(ask()) is False


def test_run_orm_uses_the_waiting_callers_thread_under_async_to_sync() -> None:
    ran_on = async_to_sync(run_orm)(threading.get_ident)

    assert ran_on == threading.get_ident()


def test_run_orm_on_the_event_loop_does_not_queue_behind_the_shared_thread() -> None:
    async def load() -> str:
        return await asyncio.wait_for(run_orm(lambda: "loaded"), timeout=3)

    with asgiref_shared_thread_held():
        assert asyncio.run(load()) == "loaded"


def test_write_behind_on_the_event_loop_returns_before_the_write_is_done() -> None:
    release, written = threading.Event(), threading.Event()

    def slow_write() -> None:
        release.wait(WAIT_SECONDS)
        written.set()

    async def request() -> bool:
        started = time.monotonic()
        await write_behind(slow_write)
        returned_in = time.monotonic() - started
        release.set()
        await asyncio.sleep(0)  # let the loop see the write through before it closes
        assert await asyncio.to_thread(written.wait, WAIT_SECONDS)
        return returned_in < 1

    assert asyncio.run(request())


def test_write_behind_under_async_to_sync_is_done_when_it_returns() -> None:
    writes: list[int] = []

    def write() -> None:
        writes.append(threading.get_ident())

    async def request() -> None:
        await write_behind(write)

    async_to_sync(request)()

    assert writes == [threading.get_ident()]


def test_write_behind_logs_a_failed_write(caplog: pytest.LogCaptureFixture) -> None:
    def broken_write() -> None:
        raise RuntimeError("disk on fire")

    async def request() -> None:
        await write_behind(broken_write)
        for _ in range(100):
            if caplog.records:
                return
            await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="core.db"):
        asyncio.run(request())

    assert "broken_write failed" in caplog.text
    assert "disk on fire" in caplog.text
