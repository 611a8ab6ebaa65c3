"""The request-log table partitioned by day on PostgreSQL, a plain table on SQLite.

Tests that need PostgreSQL are marked `services` (they run in the services run, against a
real PostgreSQL); the others run on both databases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.prepared import fetch_prepared
from core.testing import require
from usage import partitions
from usage.models import RequestLog, UsageDaily
from usage.tasks import create_log_partitions, delete_expired_logs
from usage.testing import make_record
from usage.writer import write_records

TODAY = datetime.now(UTC).date()


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


def require_postgres() -> None:
    require(connection.vendor == "postgresql", "needs a PostgreSQL DATABASE_URL")


def partition_of_rows() -> dict[str, str]:
    """Each log's id and the partition that holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, tableoid::regclass::text FROM usage_requestlog")
        return dict(cursor.fetchall())


def test_cursor_pages_cross_partition_boundaries_without_gaps_or_repeats(alice_client, alice_tool):
    """Three logs on each of four days (four partitions on PostgreSQL), read two at a time."""
    records = [
        make_record(alice_tool, created_at=at_noon(TODAY - timedelta(days=d)) + timedelta(hours=h))
        for d in range(4)
        for h in (-11, 0, 11)
    ]
    write_records(records)
    expected = [str(r.id) for r in sorted(records, key=lambda r: r.created_at, reverse=True)]

    seen: list[str] = []
    url = "/api/logs?limit=2"
    while url:
        body = alice_client.get(url).json()
        seen += [item["id"] for item in body["data"]]
        cursor = body["pagination"]["nextCursor"]
        url = f"/api/logs?limit=2&cursor={cursor}" if cursor else ""

    assert seen == expected
    first_day = alice_client.get(
        f"/api/logs?from={TODAY - timedelta(days=3)}&to={TODAY - timedelta(days=3)}"
    )
    assert ids(first_day) == expected[-3:]


def test_retention_removes_expired_logs_and_keeps_rollups(settings, alice, alice_tool):
    settings.LOG_RETENTION_DAYS = 30
    now = datetime.now(UTC)
    old = [
        make_record(alice_tool, created_at=now - timedelta(days=32, minutes=n)) for n in range(7)
    ]
    recent = make_record(alice_tool, created_at=now - timedelta(days=29))
    write_records([*old, recent])

    result = delete_expired_logs.apply().get()

    assert list(RequestLog.objects.values_list("id", flat=True)) == [recent.id]
    assert sum(UsageDaily.objects.values_list("calls", flat=True)) == 8
    if connection.vendor == "postgresql":
        assert result == {"partitions_dropped": 1, "rows_deleted": 0}
    else:
        assert result == {"partitions_dropped": 0, "rows_deleted": 7}


def test_the_partition_task_is_a_no_op_on_sqlite(settings):
    if connection.vendor == "postgresql":
        pytest.skip("the PostgreSQL side is tested below")
    assert create_log_partitions.apply().get() == 0


def test_prepared_fetch_returns_what_the_orm_returns(alice_tool):
    write_records(
        [make_record(alice_tool, created_at=at_noon(TODAY - timedelta(days=d))) for d in range(3)]
    )
    logs = RequestLog.objects.filter(user=alice_tool.server.user).order_by("-created_at", "-id")

    fetched = fetch_prepared(logs[:2])

    assert [(log.id, log.created_at, log.tool_name) for log in fetched] == [
        (log.id, log.created_at, log.tool_name) for log in logs[:2]
    ]
    assert fetch_prepared(logs.none()) == []


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_creates_the_partitions_ahead(settings):
    require_postgres()
    settings.LOG_PARTITIONS_AHEAD_DAYS = 10
    wanted = {TODAY + timedelta(days=n) for n in range(11)}
    with connection.cursor() as cursor:
        for day, name in partitions.day_partitions(cursor).items():
            if day >= TODAY + timedelta(days=2):
                partitions.drop_partition(cursor, name)

    created = create_log_partitions.apply().get()
    again = create_log_partitions.apply().get()

    with connection.cursor() as cursor:
        assert wanted <= set(partitions.day_partitions(cursor))
    assert created >= 9
    assert again == 0
    assert "usage-create-log-partitions" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_rows_land_in_their_days_partition_even_one_not_made_ahead(alice_tool):
    require_postgres()
    far = TODAY - timedelta(days=400)
    records = [make_record(alice_tool, created_at=at_noon(day)) for day in (TODAY, far)]
    records.append(
        make_record(alice_tool, created_at=datetime.combine(TODAY, time(0), UTC))
    )  # the first instant of a day belongs to that day

    write_records(records)
    write_records(records)  # a retried batch: stored and counted once

    where = partition_of_rows()
    assert where == {
        str(records[0].id): partitions.partition_name(TODAY),
        str(records[1].id): partitions.partition_name(far),
        str(records[2].id): partitions.partition_name(TODAY),
    }
    assert sum(UsageDaily.objects.values_list("calls", flat=True)) == 3


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_retention_drops_whole_expired_partitions_only(settings, alice_tool):
    require_postgres()
    now = datetime.now(UTC)
    expired_day = (now - timedelta(days=12)).date()
    cutoff = now - timedelta(days=10)
    # Past the cutoff, but on the cutoff's own day, which is not over yet (an hour before it,
    # or that day's midnight when the cutoff falls in its first hour).
    boundary = max(cutoff - timedelta(hours=1), datetime.combine(cutoff.date(), time.min, UTC))
    write_records(
        [
            make_record(alice_tool, created_at=at_noon(expired_day)),
            make_record(alice_tool, created_at=boundary),
            make_record(alice_tool, created_at=now),
        ]
    )

    settings.LOG_RETENTION_DAYS = 10
    result = delete_expired_logs.apply().get()

    with connection.cursor() as cursor:
        days = set(partitions.day_partitions(cursor))
    assert expired_day not in days
    assert boundary.date() in days
    with connection.cursor() as cursor:
        assert partitions.detached_tables(cursor) == []
    assert RequestLog.objects.count() == 2
    assert result["partitions_dropped"] >= 1
    assert result["rows_deleted"] == 0


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_a_table_holding_rows_and_back(alice_tool):
    require_postgres()
    executor = MigrationExecutor(connection)
    partitioned = [("usage", "0005_partition_request_logs_by_day")]
    plain = [("usage", "0004_admin_filter_indexes")]
    try:
        executor.migrate(plain)
        with connection.cursor() as cursor:
            assert not partitions.is_partitioned(cursor)
        days = [TODAY - timedelta(days=d) for d in (0, 1, 45)]
        rows = [make_record(alice_tool, created_at=at_noon(day)) for day in days]
        old = executor.loader.project_state(plain).apps.get_model("usage", "RequestLog")
        old.objects.bulk_create([old(**{name: getattr(r, name) for name in _FIELDS}) for r in rows])

        executor = MigrationExecutor(connection)
        executor.migrate(partitioned)

        with connection.cursor() as cursor:
            assert partitions.is_partitioned(cursor)
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'usage_requestlog'::regclass AND contype = 'p'"
            )
            assert cursor.fetchone()[0] == "PRIMARY KEY (id, created_at)"
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'usage_requestlog'")
            indexes = {name for (name,) in cursor.fetchall()}
        assert {index.name for index in RequestLog._meta.indexes} <= indexes
        assert partition_of_rows() == {
            str(r.id): partitions.partition_name(day) for r, day in zip(rows, days, strict=True)
        }

        # The caller's email (0006) reaches every partition, the rows already there blank.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes("usage"))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(a.attname) FROM pg_inherits i LEFT JOIN pg_attribute a "
                "ON a.attrelid = i.inhrelid AND a.attname = 'caller_email' AND NOT a.attisdropped "
                "WHERE i.inhparent = 'usage_requestlog'::regclass"
            )
            children, with_column = cursor.fetchone()
            assert children >= 3 and with_column == children
        assert set(RequestLog.objects.values_list("caller_email", flat=True)) == {""}

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(plain)
        with connection.cursor() as cursor:
            assert not partitions.is_partitioned(cursor)
        assert RequestLog.objects.count() == 3
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes("usage"))


_FIELDS = [
    "id", "user_id", "server_id", "server_name", "tool_id", "tool_name", "source", "method",
    "path", "status_code", "duration_ms", "upstream_ms", "request_bytes", "response_bytes",
    "error_code", "key_prefix", "client_name", "succeeded", "created_at",
]  # fmt: skip
"""The request log's columns as migration 0004 left them."""


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_log_pages_run_as_prepared_generic_plans(alice_client, alice_tool):
    require_postgres()
    write_records(
        [make_record(alice_tool, created_at=at_noon(TODAY - timedelta(days=d))) for d in range(3)]
    )

    for _ in range(3):
        assert len(alice_client.get("/api/logs?statusCode=200").json()["data"]) == 3

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements "
            "WHERE statement LIKE '%%usage_requestlog%%'"
        )
        assert cursor.fetchone()[0] >= 1
