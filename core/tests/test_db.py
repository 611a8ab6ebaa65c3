"""Database connections used from the event loop survive a database restart."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
import pytest
from django.db import OperationalError, connection

from core.db import usable_connection
from core.testing import require

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
T = TypeVar("T")


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def terminate(pid: int) -> None:
    """What a PostgreSQL restart does to every open connection."""
    params = connection.settings_dict
    with psycopg.connect(
        host=params["HOST"], port=params["PORT"] or 5432, user=params["USER"],
        password=params["PASSWORD"] or None, dbname=params["NAME"], autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def in_thread(func: Callable[[], T]) -> T:
    """Run FUNC on a thread of its own, as sync_to_async does: outside any request cycle."""

    def run() -> T:
        try:
            return func()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


def require_postgres() -> None:
    require(connection.vendor == "postgresql", "needs a PostgreSQL DATABASE_URL")


def test_it_replaces_a_connection_that_failed_after_the_server_closed_it() -> None:
    require_postgres()

    def scenario() -> tuple[int, str, int]:
        first = backend_pid()
        terminate(first)
        try:
            backend_pid()
        except OperationalError as exc:
            failure = str(exc)
        else:
            failure = ""
        return first, failure, usable_connection(backend_pid)()

    first, failure, after = in_thread(scenario)
    assert failure  # the dead connection fails the query that finds out...
    assert after != first  # ...and the next decorated call runs on a new one


def test_it_replaces_a_connection_the_server_closed_while_it_was_idle() -> None:
    require_postgres()

    def scenario() -> tuple[int, int]:
        first = backend_pid()
        terminate(first)
        return first, usable_connection(backend_pid)()

    first, after = in_thread(scenario)
    assert after != first


def test_without_it_a_thread_keeps_its_dead_connection() -> None:
    require_postgres()

    def scenario() -> list[str]:
        terminate(backend_pid())
        failures = []
        for _ in range(2):
            try:
                backend_pid()
            except OperationalError as exc:
                failures.append(str(exc))
        return failures

    failures = in_thread(scenario)
    assert len(failures) == 2
    assert "closed" in failures[1]
