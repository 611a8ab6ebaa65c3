"""The logs cursor while another thread keeps writing (as the recorder does during a
call burst): every row that existed when paging began is seen exactly once, with and
without a filter, and shared timestamps are ordered by id."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from usage.testing import make_record
from usage.writer import write_records

pytestmark = pytest.mark.django_db(transaction=True)


def page_through(client, query: str) -> list[dict]:
    items: list[dict] = []
    url = f"/api/logs?limit=2&{query}"
    while url:
        body = client.get(url).json()
        assert body["success"] is True, body
        items.extend(body["data"])
        cursor = body["pagination"]["nextCursor"]
        assert body["pagination"]["hasMore"] is bool(cursor)
        url = f"/api/logs?limit=2&{query}&cursor={cursor}" if cursor else ""
    return items


def test_the_cursor_is_stable_while_another_thread_inserts(alice_client, alice_tool):
    base = datetime.now(UTC) - timedelta(hours=1)
    existing = []
    for n in range(12):
        # Pairs share a timestamp; every third row is a tool test.
        moment = base + timedelta(seconds=n // 2)
        existing.append(make_record(alice_tool, created_at=moment, source="mcp"))
        if n % 3 == 0:
            existing.append(make_record(alice_tool, created_at=moment, source="test"))
    write_records(existing)
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        try:
            while not stop.is_set():
                write_records([make_record(alice_tool, created_at=datetime.now(UTC))])
                written.append(1)
        finally:
            connection.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        everything = page_through(alice_client, "from=" + base.strftime("%Y-%m-%dT%H:%M:%SZ"))
        mcp_only = page_through(alice_client, "source=mcp")
    finally:
        stop.set()
        writer.join(timeout=10)

    assert written, "the writer never got a row in while paging"
    ids = [item["id"] for item in everything]
    assert len(ids) == len(set(ids))
    # Newest first, ties broken by id, in the same direction throughout.
    expected = sorted(existing, key=lambda r: (r.created_at, str(r.id)), reverse=True)
    before = {str(r.id) for r in existing}
    assert [i for i in ids if i in before] == [str(r.id) for r in expected]
    mcp_ids = [item["id"] for item in mcp_only]
    assert len(mcp_ids) == len(set(mcp_ids))
    assert {str(r.id) for r in existing if r.source == "mcp"} <= set(mcp_ids)
    assert {item["source"] for item in mcp_only} == {"mcp"}
