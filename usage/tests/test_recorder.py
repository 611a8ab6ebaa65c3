from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from usage import writer as writer_module
from usage.ids import uuid7
from usage.models import RequestLog, UsageDaily
from usage.recorder import Recorder, record_now
from usage.testing import make_record, make_server, make_tool
from usage.writer import write_records


def daily_calls(user) -> int:
    return sum(UsageDaily.objects.filter(user=user).values_list("calls", flat=True))


def test_it_buffers_until_flushed_then_writes_logs_and_rollups(alice, alice_tool):
    recorder = Recorder(interval=60)
    records = [
        make_record(alice_tool, status_code=200 if n % 3 else 500, succeeded=bool(n % 3))
        for n in range(7)
    ]
    for record in records:
        recorder.record(record)

    assert RequestLog.objects.count() == 0
    assert recorder.pending() == 7
    assert recorder.flush() == 7

    assert RequestLog.objects.filter(user=alice).count() == 7
    row = UsageDaily.objects.get(user=alice)
    assert (row.calls, row.succeeded, row.failed) == (7, 4, 3)
    assert row.duration_ms_total == 7 * 40
    assert row.server_uuid == alice_tool.server_id
    assert sum(row.histogram()) == 7
    assert recorder.pending() == 0


def test_it_writes_in_batches_of_batch_size(alice, alice_tool):
    recorder = Recorder(interval=60, batch_size=3)
    for _ in range(8):
        recorder.record(make_record(alice_tool))

    assert recorder.flush() == 8
    assert RequestLog.objects.count() == 8
    assert daily_calls(alice) == 8


def test_it_splits_rollups_by_day_and_source(alice, alice_tool):
    today = datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC)
    write_records(
        [
            make_record(alice_tool, created_at=today),
            make_record(alice_tool, created_at=today + timedelta(seconds=2)),
            make_record(alice_tool, created_at=today, source="test"),
        ]
    )

    rows = {(r.day.isoformat(), r.source): r.calls for r in UsageDaily.objects.filter(user=alice)}
    assert rows == {("2026-11-24", "mcp"): 1, ("2026-11-25", "mcp"): 1, ("2026-11-24", "test"): 1}


def test_a_repeated_write_of_the_same_records_counts_once(alice, alice_tool):
    records = [make_record(alice_tool) for _ in range(4)]

    assert len(write_records(records)) == 4
    assert write_records(records) == []

    assert RequestLog.objects.count() == 4
    assert daily_calls(alice) == 4


def test_a_failed_flush_keeps_the_records_and_the_retry_counts_them_once(alice, alice_tool):
    recorder = Recorder(interval=60)
    for _ in range(5):
        recorder.record(make_record(alice_tool))
    table = UsageDaily._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO usage_daily_away")

    with pytest.raises(Exception, match="usage_usagedaily"):
        recorder.flush()

    # The logs were inserted before the rollup failed: the transaction took them back.
    assert recorder.pending() == 5
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE usage_daily_away RENAME TO {table}")
    assert RequestLog.objects.count() == 0

    assert recorder.flush() == 5
    assert RequestLog.objects.count() == 5
    assert daily_calls(alice) == 5


def test_a_full_buffer_drops_the_oldest_records(alice, alice_tool, caplog):
    recorder = Recorder(interval=60, max_buffer=3)
    records = [make_record(alice_tool) for _ in range(5)]
    for record in records:
        recorder.record(record)

    assert recorder.dropped == 2
    assert "Usage buffer full" in caplog.text
    recorder.flush()
    assert set(RequestLog.objects.values_list("id", flat=True)) == {r.id for r in records[2:]}


def test_a_server_deleted_before_the_flush_keeps_its_name_in_logs_and_usage(alice):
    server = make_server(alice, "Doomed")
    tool = make_tool(server)
    recorder = Recorder(interval=60)
    recorder.record(make_record(tool))
    server_id = server.id
    server.delete()

    assert recorder.flush() == 1
    log = RequestLog.objects.get()
    assert (log.server_id, log.tool_id, log.server_name) == (None, None, "Doomed")
    assert UsageDaily.objects.get().server_uuid == server_id


def test_records_of_a_deleted_user_are_discarded(charlie, alice_tool):
    record = make_record(alice_tool, user_id=charlie.id)
    charlie.delete()

    assert write_records([record]) == []
    assert RequestLog.objects.count() == 0


def test_record_now_writes_synchronously(alice, alice_tool):
    record_now(make_record(alice_tool, source="test"))

    assert RequestLog.objects.get().source == "test"
    assert UsageDaily.objects.get().source == "test"


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_flushes_and_stop_flushes_the_rest(alice, alice_tool):
    recorder = Recorder(interval=0.05)
    recorder.start()
    try:
        recorder.record(make_record(alice_tool))
        deadline = time.monotonic() + 5
        while RequestLog.objects.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert RequestLog.objects.count() == 1
    finally:
        recorder.interval = 3600
        for _ in range(3):
            recorder.record(make_record(alice_tool))
        recorder.stop()

    assert RequestLog.objects.count() == 4
    assert daily_calls(alice) == 4


def test_text_a_database_cannot_store_is_replaced_not_a_poisoned_batch(alice, alice_tool):
    # An unknown tool's name and a client name come from the client and may hold anything.
    records = [
        make_record(alice_tool, tool_name="evil\x00name", client_name="half \ud83d emoji"),
        make_record(alice_tool),
    ]

    assert len(write_records(records)) == 2

    names = set(RequestLog.objects.values_list("tool_name", "client_name"))
    assert ("evil\ufffdname", "half \ufffd emoji") in names
    assert daily_calls(alice) == 2


def test_the_background_flush_writes_what_was_buffered_not_what_arrives_meanwhile(
    alice, alice_tool
):
    # A busy process must write a few large batches per interval, not chase its own tail
    # with one small batch (and transaction) after another.
    batches: list[int] = []
    recorder = Recorder(interval=60, batch_size=2)
    busy = True

    def writer(batch):
        batches.append(len(batch))
        if busy:
            recorder.record(make_record(alice_tool))  # a call finishing during the write
        return write_records(batch)

    recorder.writer = writer
    for _ in range(5):
        recorder.record(make_record(alice_tool))

    assert recorder._flush(until_empty=False) == 5
    assert batches == [2, 2, 1]
    assert recorder.pending() == 3
    busy = False
    assert recorder.flush() == 3
    assert recorder.pending() == 0


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_batch_is_one_statement_and_still_counts_once(
    alice, alice_tool, django_assert_num_queries
):
    if connection.vendor != "postgresql":
        pytest.skip("the single-statement writer is PostgreSQL's")
    gone = make_server(alice, "Gone")
    gone_tool = make_tool(gone)
    records = [make_record(alice_tool, duration_ms=ms) for ms in (0, 5, 6, 30000, 30001)]
    records.append(make_record(gone_tool))
    gone_id = gone.id
    gone.delete()

    with django_assert_num_queries(0):  # psycopg directly: one round trip, no BEGIN/COMMIT
        written = write_records(records)
    assert len(written) == 6
    assert write_records(records) == []  # a retried batch is skipped, not counted twice

    row = UsageDaily.objects.get(user=alice, server_uuid=alice_tool.server_id)
    assert row.calls == 5
    # PostgreSQL's buckets are the Python histogram's (usage.histogram.bucket_of).
    (expected,) = writer_module.rollup_deltas(records[:5]).values()
    assert row.histogram() == expected.histogram
    gone_row = UsageDaily.objects.get(user=alice, server_uuid=gone_id)
    assert (gone_row.calls, gone_row.server_name) == (1, "Gone")
    assert RequestLog.objects.get(id=records[-1].id).server_id is None


def test_request_log_ids_are_time_ordered_uuid7():
    first, second = uuid7(), uuid7()
    assert first.version == 7 and first.variant == uuid.RFC_4122
    time.sleep(0.002)
    third = uuid7()
    assert first != second
    assert third.int >> 80 > first.int >> 80  # the millisecond timestamp leads
    assert abs((first.int >> 80) - time.time_ns() // 1_000_000) < 5_000
