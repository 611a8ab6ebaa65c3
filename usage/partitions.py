"""The request-log table on PostgreSQL: one range partition per UTC day of `created_at`.

Why daily: a busy node writes ~200 M rows a day. A monthly partition would hold ~6 billion
rows, with indexes far larger than memory, and retention could only drop a whole month at
once (keeping up to a month of rows past the retention period). A day is ~200 M rows, small
enough that each partition's indexes stay near the size the single-table benchmark ran at,
and retention keeps at most one day more than asked. 90 days of retention and a week ahead
is about a hundred partitions, which PostgreSQL plans quickly (every log query either has a
`created_at` bound that prunes partitions or walks them newest first and stops after a page).

Layout:
- `usage_requestlog` is `PARTITION BY RANGE (created_at)`; its primary key is
  (id, created_at), since a partitioned table's unique constraints must include the
  partition key. Django still treats `id` as the primary key: ids are UUID v7 (a millisecond
  timestamp and 74 random bits), so two calls never share one, and the writer's
  `ON CONFLICT (id, created_at)` skips a retried record (a retry repeats both values).
- `usage_requestlog_pYYYYMMDD`: the day [YYYY-MM-DD 00:00 UTC, next day 00:00 UTC).
- No default partition: with one, PostgreSQL can no longer read the partitions in order
  (a default partition may hold any day), so a page of newest logs would start a scan in
  every partition instead of the newest one. A row whose day has no partition (beat down
  for longer than the days made ahead, a clock far off) fails its batch; the writer then
  creates the partitions of that batch's days itself and writes it again
  (`usage.writer`), so no call goes unlogged or uncounted.

Whoever creates partitions (the beat task, a writer, the migration) first takes a
transaction-level advisory lock, so two web nodes meeting the same missing day create it once.
New partitions are made as plain tables and then attached (`ATTACH PARTITION` takes only a
SHARE UPDATE EXCLUSIVE lock on the parent, so reads and writes go on; `CREATE TABLE ...
PARTITION OF` would take an ACCESS EXCLUSIVE one). Expired days are detached and dropped:
no row-by-row delete, no vacuum debt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction

logger = logging.getLogger(__name__)

TABLE = "usage_requestlog"
# Any fixed number: the advisory lock key of partition creation.
_CREATION_LOCK = 7_220_317_001
_DAY_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")
# Catalog and DDL statements wait at most this long for a lock, then give up until the next
# run: a DDL statement queued behind a long query would block every query queued behind it.
LOCK_TIMEOUT = "5s"


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _bound(day: date) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"


def today() -> date:
    return datetime.now(UTC).date()


def is_partitioned(cursor: Any, table: str = TABLE) -> bool:
    cursor.execute(
        "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)",
        [table],
    )
    row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def day_partitions(cursor: Any, table: str = TABLE) -> dict[date, str]:
    """The attached daily partitions of TABLE, by day."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        [table],
    )
    found: dict[date, str] = {}
    for (name,) in cursor.fetchall():
        match = _DAY_NAME.match(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def create_day_partition(cursor: Any, day: date) -> None:
    """Create DAY's partition: a plain table, then attached (see the module's docstring)."""
    name = partition_name(day)
    low, high = _bound(day), _bound(day + timedelta(days=1))
    cursor.execute(
        f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
    )
    cursor.execute(
        f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" FOR VALUES FROM ({low}) TO ({high})'
    )


def ensure_day_partitions(cursor: Any, days: Iterable[date]) -> list[date]:
    """Create the partitions of DAYS that do not exist yet; returns the days created.

    Inside a transaction (the caller's): holds the creation lock until it ends.
    """
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATION_LOCK])
    existing = day_partitions(cursor)
    created = []
    for day in sorted(set(days)):
        if day not in existing:
            create_day_partition(cursor, day)
            created.append(day)
    return created


def create_days(days: Iterable[date]) -> list[date]:
    """Create the partitions of DAYS that are missing, in a short transaction of their own
    (a savepoint inside a caller's). Returns the days created; none when not partitioned."""
    with transaction.atomic(), connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return []
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        return ensure_day_partitions(cursor, days)


def is_missing_partition(error: BaseException) -> bool:
    """Whether ERROR is PostgreSQL refusing a row no partition takes."""
    return getattr(getattr(error, "diag", None), "sqlstate", None) == "23514" and (
        "no partition of relation" in str(error)
    )


def expired_days(cursor: Any, *, cutoff: datetime) -> dict[date, str]:
    """Daily partitions whose whole day is older than CUTOFF."""
    return {
        day: name
        for day, name in day_partitions(cursor).items()
        if datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) <= cutoff
    }


def detach_partition(cursor: Any, name: str) -> None:
    cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{name}"')


def detached_tables(cursor: Any) -> list[str]:
    """Daily tables no longer attached (detached by retention, not yet dropped)."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
        "AND relnamespace = current_schema()::regnamespace AND relname ~ %s",
        [_DAY_NAME.pattern],
    )
    return sorted(name for (name,) in cursor.fetchall())


def drop_partition(cursor: Any, name: str) -> None:
    detach_partition(cursor, name)
    cursor.execute(f'DROP TABLE "{name}"')
