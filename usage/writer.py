"""Durable writes of call records: the request logs and the daily rollups, together.

One transaction per batch inserts the logs and increments the rollups, so a
batch is counted exactly once or not at all. Record ids are made when the call
happens; a batch that is retried after its commit went through (the connection
dropped on the way back) finds its ids already stored and skips them, so a
retry never counts twice.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.text import UNSTORABLE
from servers.models import Server
from tools.calling import CallOutcome, CallTarget
from tools.models import Tool

from . import partitions
from .histogram import BOUNDS_MS, BUCKET_FIELDS, bucket_of
from .ids import uuid7
from .models import RequestLog, UsageDaily

logger = logging.getLogger(__name__)

Source = Literal["mcp", "test"]
_CHUNK = 1000


@dataclass(slots=True)
class CallRecord:
    """What one tools/call or tool test did, as the gateway and the tool tests report it.

    Made once per call on the call path, so it is a plain slotted dataclass (cheap to build);
    nothing changes a record after it is made.
    """

    user_id: Any
    server_id: Any
    server_name: str
    tool_id: Any
    tool_name: str
    source: Source
    method: str
    path: str
    status_code: int | None
    duration_ms: int
    upstream_ms: int | None
    request_bytes: int
    response_bytes: int
    error_code: str
    key_prefix: str
    client_name: str
    created_at: datetime
    succeeded: bool
    caller_email: str = ""
    """The email of the user an OAuth access token was issued to; blank for an access key."""
    id: uuid.UUID = field(default_factory=uuid7)

    @classmethod
    def from_raw(cls, raw: RawCall, *, source: Source = "mcp") -> CallRecord:
        """The record of a call the gateway queued as a RawCall (see Recorder.record_call)."""
        (target, status_code, duration_ms, upstream_ms, request_bytes, response_bytes,
         error_code, succeeded, key_prefix, client_name, caller_email, timestamp) = raw  # fmt: skip
        return cls(
            user_id=target.user_id,
            server_id=target.server_id,
            server_name=target.server_name,
            tool_id=target.tool_id,
            tool_name=target.tool_name,
            source=source,
            method=target.method,
            path=target.path,
            status_code=status_code,
            duration_ms=duration_ms,
            upstream_ms=upstream_ms,
            request_bytes=request_bytes,
            response_bytes=response_bytes,
            error_code=error_code,
            key_prefix=key_prefix,
            client_name=client_name[:200],
            created_at=datetime.fromtimestamp(timestamp, UTC),
            succeeded=succeeded,
            caller_email=caller_email,
            id=uuid7(int(timestamp * 1000)),
        )

    @classmethod
    def for_call(
        cls,
        target: CallTarget,
        outcome: CallOutcome,
        *,
        source: Source,
        key_prefix: str = "",
        client_name: str = "",
        caller_email: str = "",
    ) -> CallRecord:
        """The record of one call made through tools.calling (MCP tools/call or tool test)."""
        raw = raw_call(target, outcome, key_prefix, client_name, caller_email)
        return cls.from_raw(raw, source=source)

    @classmethod
    def rejected(
        cls,
        *,
        user_id: Any,
        server_id: Any,
        server_name: str,
        tool_name: str,
        target: CallTarget | None,
        key_prefix: str,
        client_name: str,
        error_code: str | None = None,
        caller_email: str = "",
    ) -> CallRecord:
        """A tools/call answered without calling out: TARGET's arguments were invalid, or no
        tool is named TOOL_NAME (TARGET None), or ERROR_CODE says why (the credential may not
        call the tool). It was admitted (rate limit, quota) like any call, so it is logged and
        counts as a call in the usage that is billed."""
        return cls(
            user_id=user_id,
            server_id=server_id,
            server_name=server_name,
            tool_id=target.tool_id if target else None,
            tool_name=tool_name[:64],
            source="mcp",
            method=target.method if target else "",
            path=target.path if target else "",
            status_code=None,
            duration_ms=0,
            upstream_ms=None,
            request_bytes=0,
            response_bytes=0,
            error_code=error_code or ("invalid_arguments" if target else "unknown_tool"),
            key_prefix=key_prefix,
            client_name=client_name[:200],
            created_at=datetime.now(UTC),
            succeeded=False,
            caller_email=caller_email,
        )


# What the gateway keeps of one tools/call until the flush makes a CallRecord of it: the
# target, the outcome's numbers, the key prefix, the client's name, the caller's email (OAuth)
# and time.time().
RawCall = tuple[CallTarget, int | None, int, int | None, int, int, str, bool, str, str, str, float]


def raw_call(
    target: CallTarget,
    outcome: CallOutcome,
    key_prefix: str,
    client_name: str,
    caller_email: str = "",
) -> RawCall:
    return (
        target,
        outcome.status_code,
        outcome.duration_ms,
        outcome.upstream_ms,
        outcome.request_bytes,
        outcome.response_bytes,
        outcome.error_code,
        outcome.succeeded,
        key_prefix,
        client_name,
        caller_email,
        time.time(),
    )


RollupKey = tuple[str, str, date, str]


@dataclass
class RollupDelta:
    server_name: str
    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    duration_ms_total: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))

    def add(self, record: CallRecord) -> None:
        self.calls += 1
        self.succeeded += record.succeeded
        self.failed += not record.succeeded
        self.duration_ms_total += max(0, record.duration_ms)
        self.histogram[bucket_of(max(0, record.duration_ms))] += 1


def write_records(records: Sequence[CallRecord]) -> list[CallRecord]:
    """Store RECORDS (logs and rollups) and return those newly counted."""
    written: list[CallRecord] = []
    for start in range(0, len(records), _CHUNK):
        chunk = records[start : start + _CHUNK]
        try:
            written.extend(_write_chunk_once(chunk))
        except psycopg.errors.CheckViolation as error:
            if not partitions.is_missing_partition(error):
                raise
            # A day without its partition (usage/partitions.py): make it, write again.
            days = {record.created_at.astimezone(UTC).date() for record in chunk}
            created = partitions.create_days(days)
            logger.warning("Created missing request-log partitions for %s", created or days)
            written.extend(_write_chunk_once(chunk))
    return written


def _write_chunk_once(chunk: Sequence[CallRecord]) -> list[CallRecord]:
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One statement, atomic on its own: no BEGIN and COMMIT round trips. (Inside a
        # caller's transaction it goes below, in a savepoint, so that a failure leaves
        # the caller's transaction usable.)
        return _write_chunk_postgresql(chunk)
    with transaction.atomic():
        return _write_chunk(chunk)


def _write_chunk(records: Sequence[CallRecord]) -> list[CallRecord]:
    """Inside a transaction: the one statement on PostgreSQL, a few queries elsewhere."""
    if connection.vendor == "postgresql":
        return _write_chunk_postgresql(records)
    stored = _existing(RequestLog, (r.id for r in records))
    users = _existing(User, (r.user_id for r in records))
    fresh = [r for r in records if r.id not in stored and _uuid(r.user_id) in users]
    if fresh:
        servers = _existing(Server, (r.server_id for r in fresh))
        tools = _existing(Tool, (r.tool_id for r in fresh))
        RequestLog.objects.bulk_create([_log_row(r, servers, tools) for r in fresh])
        _upsert_rollups(rollup_deltas(fresh))
    return fresh


# PostgreSQL types of the request-log columns, for the typed arrays of _insert_new_logs.
_PG_TYPES = {
    "id": "uuid",
    "user_id": "uuid",
    "server_id": "uuid",
    "tool_id": "uuid",
    "status_code": "integer",
    "duration_ms": "integer",
    "upstream_ms": "integer",
    "request_bytes": "integer",
    "response_bytes": "integer",
    "succeeded": "boolean",
    "created_at": "timestamptz",
}


def _write_chunk_postgresql(records: Sequence[CallRecord]) -> list[CallRecord]:
    """Store RECORDS and count them in the rollups in one statement; return those newly stored.

    The writer runs in the gateway's worker processes, beside the event loop that serves the
    calls, so it must cost little CPU and few round trips (each wait for the database hands
    the interpreter lock back and forth with the event loop). One statement does it all,
    with the records as typed arrays in psycopg's binary format:
    - rows already stored (a retried batch) are skipped by `ON CONFLICT` on the primary key
      (id, created_at: the table is partitioned by created_at, usage/partitions.py; a retry
      repeats both), and only the rows this statement inserted are counted, so a retry never
      counts twice;
    - rows of a user who is gone are dropped by the join; a server or tool deleted while
      the record was buffered becomes NULL in the log, as its foreign key says, while the
      rollup keeps the server's id and name;
    - the rollups are summed by PostgreSQL and upserted in key order, so concurrent writers
      lock rows in the same order and cannot deadlock.
    """
    arrays = [list(column) for column in zip(*map(_log_tuple, records), strict=True)]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_postgresql_statement(), arrays)
        inserted = {row[0] for row in cursor.fetchall()}
    return [record for record in records if record.id in inserted]


@functools.cache
def _postgresql_statement() -> str:
    qn = connection.ops.quote_name
    names = _LOG_COLUMNS
    # %b: binary parameters, bound by the server; Django's default client-side binding
    # would spell out every element as SQL text first.
    unnest = ", ".join(f"%b::{_PG_TYPES.get(name, 'text')}[]" for name in names)
    select = []
    for name in names:
        if name == "server_id":
            select.append(f"CASE WHEN s.{qn('id')} IS NULL THEN NULL ELSE src.server_id END")
        elif name == "tool_id":
            select.append(f"CASE WHEN t.{qn('id')} IS NULL THEN NULL ELSE src.tool_id END")
        else:
            select.append(f"src.{name}")
    log_columns = ", ".join(qn(_LOG_FIELDS[name]) for name in names)
    day = "(c.created_at AT TIME ZONE 'UTC')::date"
    lower = None
    buckets = []
    for bound in BOUNDS_MS:
        above = "" if lower is None else f"c.duration_ms > {lower} AND "
        buckets.append(f"count(*) FILTER (WHERE {above}c.duration_ms <= {bound})")
        lower = bound
    buckets.append(f"count(*) FILTER (WHERE c.duration_ms > {lower})")
    rollup_columns = ", ".join(qn(c) for c in _COLUMNS)
    updates = ", ".join(
        [f"{qn('server_name')} = EXCLUDED.{qn('server_name')}"]
        + [f"{qn(c)} = d.{qn(c)} + EXCLUDED.{qn(c)}" for c in _COUNTERS]
        + [f"{qn('updated_at')} = EXCLUDED.{qn('updated_at')}"]
    )
    key = ", ".join(qn(c) for c in ("user_id", "server_uuid", "day", "source"))
    # Only quoted identifiers and fixed numbers are interpolated; values are parameters.
    return (
        f"WITH src AS MATERIALIZED (SELECT r.* FROM unnest({unnest}) AS r({', '.join(names)}) "  # noqa: S608
        f"JOIN {qn(User._meta.db_table)} u ON u.{qn('id')} = r.user_id), "
        f"ins AS (INSERT INTO {qn(RequestLog._meta.db_table)} ({log_columns}) "
        f"SELECT {', '.join(select)} FROM src "
        f"LEFT JOIN {qn(Server._meta.db_table)} s ON s.{qn('id')} = src.server_id "
        f"LEFT JOIN {qn(Tool._meta.db_table)} t ON t.{qn('id')} = src.tool_id "
        f"ON CONFLICT ({qn('id')}, {qn('created_at')}) DO NOTHING RETURNING {qn('id')}), "
        f"up AS (INSERT INTO {qn(UsageDaily._meta.db_table)} AS d ({rollup_columns}) "
        f"SELECT c.user_id, c.server_id, "
        f"(array_agg(c.server_name ORDER BY c.created_at DESC))[1], {day}, c.source, "
        f"count(*), count(*) FILTER (WHERE c.succeeded), count(*) FILTER (WHERE NOT c.succeeded), "
        f"sum(c.duration_ms), {', '.join(buckets)}, now() "
        f"FROM src c JOIN ins ON ins.{qn('id')} = c.id WHERE c.server_id IS NOT NULL "
        f"GROUP BY c.user_id, c.server_id, {day}, c.source "
        f"ORDER BY c.user_id, c.server_id, {day}, c.source "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}) "
        f"SELECT {qn('id')} FROM ins"
    )


def _existing(model: Any, ids: Iterable[Any]) -> set[uuid.UUID]:
    """Which of IDS are still rows of MODEL: a server or tool may be deleted mid-buffer."""
    wanted = {_uuid(value) for value in ids if value is not None}
    if not wanted:
        return set()
    return set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else _parse_uuid(str(value))


@functools.lru_cache(maxsize=4096)
def _parse_uuid(text: str) -> uuid.UUID:
    # The same few user, server and tool ids come back in every batch.
    return uuid.UUID(text)


@functools.lru_cache(maxsize=4096)
def _uuid_text(value: Any) -> str:
    return str(_uuid(value))


@functools.lru_cache(maxsize=4096)
def _storable(text: str, limit: int) -> str:
    """TEXT cut to LIMIT without what PostgreSQL cannot store (NUL, lone surrogates).

    Log fields carry what clients send (an unknown tool's name, a client name): one such
    character must not make a whole batch fail again and again. Memoised: a batch repeats
    the same names and paths over and over.
    """
    return UNSTORABLE.sub("\ufffd", text[:limit])


# The request-log columns in the order of _log_tuple (attribute names, as in _PG_TYPES).
_LOG_COLUMNS = (
    "id",
    "user_id",
    "server_id",
    "server_name",
    "tool_id",
    "tool_name",
    "source",
    "method",
    "path",
    "status_code",
    "duration_ms",
    "upstream_ms",
    "request_bytes",
    "response_bytes",
    "error_code",
    "key_prefix",
    "client_name",
    "caller_email",
    "succeeded",
    "created_at",
)
_LOG_FIELDS = {f.attname: str(f.column) for f in RequestLog._meta.concrete_fields}
assert set(_LOG_COLUMNS) == set(_LOG_FIELDS), "RequestLog's columns changed: update the writer"


def _log_tuple(record: CallRecord) -> tuple[Any, ...]:
    server_id = record.server_id
    tool_id = record.tool_id
    upstream_ms = record.upstream_ms
    return (
        record.id,
        _uuid(record.user_id),
        None if server_id is None else _uuid(server_id),
        _storable(record.server_name, 200),
        None if tool_id is None else _uuid(tool_id),
        _storable(record.tool_name, 64),
        record.source,
        _storable(record.method.upper(), 10),
        _storable(record.path, 2000),
        record.status_code,
        max(0, record.duration_ms),
        None if upstream_ms is None else max(0, upstream_ms),
        max(0, record.request_bytes),
        max(0, record.response_bytes),
        _storable(record.error_code, 64),
        _storable(record.key_prefix, 16),
        _storable(record.client_name, 200),
        _storable(record.caller_email, 254),
        record.succeeded,
        record.created_at,
    )


def _log_values(record: CallRecord) -> dict[str, Any]:
    return dict(zip(_LOG_COLUMNS, _log_tuple(record), strict=True))


def _log_row(record: CallRecord, servers: set[uuid.UUID], tools: set[uuid.UUID]) -> RequestLog:
    values = _log_values(record)
    if values["server_id"] not in servers:
        values["server_id"] = None
    if values["tool_id"] not in tools:
        values["tool_id"] = None
    return RequestLog(**values)


def rollup_deltas(records: Iterable[CallRecord]) -> dict[RollupKey, RollupDelta]:
    deltas: dict[RollupKey, RollupDelta] = {}
    for record in records:
        created_at = record.created_at
        if created_at.tzinfo is not UTC:
            created_at = created_at.astimezone(UTC)
        key = (
            _uuid_text(record.user_id),
            _uuid_text(record.server_id),
            created_at.date(),
            record.source,
        )
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = RollupDelta(server_name="")
        delta.server_name = _storable(record.server_name, 200)
        delta.add(record)
    return deltas


_COUNTERS = ("calls", "succeeded", "failed", "duration_ms_total", *BUCKET_FIELDS)
_COLUMNS = ("user_id", "server_uuid", "server_name", "day", "source", *_COUNTERS, "updated_at")


def _upsert_rollups(deltas: dict[RollupKey, RollupDelta]) -> None:
    """Increment the rollup rows in one statement per chunk, safe against concurrent writers.

    Keys are sorted so that concurrent transactions lock rows in the same order
    and cannot deadlock each other.
    """
    table = connection.ops.quote_name(UsageDaily._meta.db_table)
    qn = connection.ops.quote_name
    row_sql = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    updates = ", ".join(
        [f"{qn('server_name')} = EXCLUDED.{qn('server_name')}"]
        + [f"{qn(c)} = {table}.{qn(c)} + EXCLUDED.{qn(c)}" for c in _COUNTERS]
        + [f"{qn('updated_at')} = EXCLUDED.{qn('updated_at')}"]
    )
    keys = sorted(deltas, key=lambda k: (k[0], k[1], k[2].isoformat(), k[3]))
    now = timezone.now()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        params: list[Any] = []
        for key in chunk:
            params.extend(_row_params(key, deltas[key], now))
        # Only quoted identifiers and placeholders are interpolated; values are parameters.
        sql = (
            f"INSERT INTO {table} ({', '.join(qn(c) for c in _COLUMNS)}) "  # noqa: S608
            f"VALUES {', '.join([row_sql] * len(chunk))} "
            f"ON CONFLICT ({qn('user_id')}, {qn('server_uuid')}, {qn('day')}, {qn('source')}) "
            f"DO UPDATE SET {updates}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _row_params(key: RollupKey, delta: RollupDelta, now: datetime) -> list[Any]:
    user_id, server_uuid, day, source = key
    values: dict[str, Any] = {
        "user_id": uuid.UUID(user_id),
        "server_uuid": uuid.UUID(server_uuid),
        "server_name": delta.server_name,
        "day": day,
        "source": source,
        "calls": delta.calls,
        "succeeded": delta.succeeded,
        "failed": delta.failed,
        "duration_ms_total": delta.duration_ms_total,
        **dict(zip(BUCKET_FIELDS, delta.histogram, strict=True)),
        "updated_at": now,
    }
    fields = {f.attname: f for f in UsageDaily._meta.concrete_fields}
    return [fields[name].get_db_prep_value(values[name], connection) for name in _COLUMNS]
