"""`GET /api/logs` and `GET /api/usage` at 1,000,000 log rows for one user, on PostgreSQL.

Creates a throwaway database, migrates it, loads the rows with server-side bulk
inserts (`INSERT ... SELECT generate_series`), builds the daily rollups from
them, then times each query through the full Django stack (test client: bearer
auth, DRF, serialisation) and prints p50/p99 per query plus the PostgreSQL plan
(`EXPLAIN (ANALYZE, BUFFERS)`) of the log query each request ran. Drops the
database at the end unless --keep.

    .venv/bin/python bench/logs_bench.py [--rows 1000000] [--other-rows 200000]
        [--iterations 200] [--db specgate_bench_logs] [--keep] [--plans FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVERS = 10
TOOLS_PER_SERVER = 5
OTHER_USERS = 4
DAYS = 90
SQL_RUNS = 200


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--other-rows", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--db", default="specgate_bench_logs")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--plans", type=Path, help="write the full EXPLAIN plans here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep an existing database and load only the days it lacks (implies --keep)",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        help="then time the retention job with this LOG_RETENTION_DAYS (drops the older days; "
        "a later --reuse run loads them again)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--load-only", action="store_true", help="load, then stop (with --reuse)")
    parser.add_argument(
        "--time-migration",
        action="store_true",
        help="load the rows into the unpartitioned table (usage at 0004), time migration 0005 "
        "converting it, and stop",
    )
    parser.add_argument(
        "--orm-plans",
        action="store_true",
        help="for comparison: log pages planned per query by the ORM, not prepared generic plans",
    )
    return parser.parse_args()


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_user(email: str) -> Any:
    from accounts import local_issuer
    from accounts.models import User

    return User.objects.create_user(clerk_id=local_issuer.subject_for_email(email), email=email)


def make_servers(user: Any, count: int) -> list[Any]:
    """COUNT servers with TOOLS_PER_SERVER tools each; returns the tools."""
    from servers.models import Server
    from specs.models import Spec, SpecOperation
    from tools.models import Tool

    tools = []
    for s in range(count):
        spec = Spec.objects.create(
            user=user,
            name=f"spec {s}",
            format="openapi-3.1",
            original_text="{}",
            document={},
            sha256=f"{user.pk.hex[:8]}{s:056d}",
        )
        server = Server.objects.create(
            user=user,
            spec=spec,
            name=f"Server {s}",
            slug=f"s-{user.pk.hex[:8]}-{s}",
            base_url="https://api.example.com",
        )
        for t in range(TOOLS_PER_SERVER):
            method = ["GET", "GET", "POST", "PUT", "DELETE"][t]
            operation = SpecOperation.objects.create(
                spec=spec,
                key=f"{method} /things{t}/{{id}}",
                method=method,
                path=f"/things{t}/{{id}}",
                tool_name=f"tool_{t}",
                input_schema={"type": "object"},
                fingerprint=str(t),
            )
            tools.append(Tool.objects.create(server=server, operation=operation, name=f"tool_{t}"))
    return tools


LOAD_SQL = f"""
INSERT INTO usage_requestlog (
    id, user_id, server_id, server_name, tool_id, tool_name, source, method, path,
    status_code, duration_ms, upstream_ms, request_bytes, response_bytes, error_code,
    key_prefix, client_name, succeeded, created_at
)
SELECT
    (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(r1::text), 1, 3) || '8' || substr(md5(r2::text), 1, 15))::uuid,
    %(user)s::uuid,
    (%(servers)s::uuid[])[1 + t], 'Server ' || (t / {TOOLS_PER_SERVER}), (%(tools)s::uuid[])[1 + t],
    'tool_' || (t %% {TOOLS_PER_SERVER}),
    CASE WHEN r1 < 0.01 THEN 'test' ELSE 'mcp' END,
    (ARRAY['GET', 'GET', 'POST', 'PUT', 'DELETE'])[1 + t %% {TOOLS_PER_SERVER}],
    '/things' || (t %% {TOOLS_PER_SERVER}) || '/{{id}}',
    status, (r2 * 400)::int, (r2 * 380)::int, 200, (r1 * 5000)::int,
    CASE WHEN status IS NULL THEN 'UPSTREAM_TIMEOUT' ELSE '' END,
    'sgk_abcd', 'bench', status IS NOT NULL AND status < 400, ts
FROM (
    SELECT i, ((i::bigint * 7919) %% %(tool_count)s)::int AS t, random() AS r1, random() AS r2,
        %(start)s::timestamptz + make_interval(secs => (i::float8 / %(count)s) * %(span)s) AS ts,
        CASE
            WHEN i %% 1000 = 0 THEN 500
            WHEN i %% 997 = 0 THEN NULL
            WHEN i %% 50 = 0 THEN 404
            ELSE 200
        END AS status
    FROM generate_series(0, %(count)s::int - 1) AS i
) AS g
ORDER BY ts
"""


def day_window(days_ago: int) -> tuple[datetime, float]:
    """The start of the UTC day DAYS_AGO days back and its length up to now, in seconds."""
    now = datetime.now(UTC)
    start = datetime.combine(now.date() - timedelta(days=days_ago), datetime.min.time(), UTC)
    return start, min(86400.0, (now - start).total_seconds())


def ensure_partitions() -> None:
    """PostgreSQL: a partition for each loaded day, as the beat task keeps them ahead."""
    from django.db import connection, transaction

    from usage import partitions

    first = partitions.today()
    with transaction.atomic(), connection.cursor() as cursor:
        if partitions.is_partitioned(cursor):
            partitions.ensure_day_partitions(
                cursor, [first - timedelta(days=n) for n in range(DAYS)]
            )


def load_day(user: Any, tools: list[Any], days_ago: int, count: int) -> None:
    """COUNT of USER's logs spread evenly over the UTC day DAYS_AGO days back (up to now)."""
    from django.db import connection

    start, span = day_window(days_ago)
    with connection.cursor() as cursor:
        cursor.execute(
            LOAD_SQL,
            {
                "user": str(user.pk),
                "servers": [str(t.server_id) for t in tools],
                "tools": [str(t.pk) for t in tools],
                "tool_count": len(tools),
                "start": start,
                "span": span,
                "count": count,
            },
        )


def load_logs(user: Any, tools: list[Any], rows: int) -> None:
    """ROWS of USER's logs over the last DAYS days, a day at a time (one partition each)."""
    ensure_partitions()
    for days_ago in range(DAYS):
        load_day(user, tools, days_ago, rows // DAYS + (days_ago < rows % DAYS))


def build_rollups() -> None:
    """What the recorder keeps current, computed once from the loaded logs."""
    from usage.histogram import BOUNDS_MS, BUCKET_FIELDS

    buckets = []
    lower = None
    for bound in BOUNDS_MS:
        low = f"duration_ms > {lower} AND " if lower is not None else ""
        buckets.append(f"SUM(CASE WHEN {low}duration_ms <= {bound} THEN 1 ELSE 0 END)")
        lower = bound
    buckets.append(f"SUM(CASE WHEN duration_ms > {BOUNDS_MS[-1]} THEN 1 ELSE 0 END)")
    columns = ", ".join(BUCKET_FIELDS)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO usage_usagedaily (user_id, server_uuid, server_name, day, source, calls,
                succeeded, failed, duration_ms_total, {columns}, updated_at)
            SELECT user_id, server_id, MAX(server_name), (created_at AT TIME ZONE 'UTC')::date,
                source, COUNT(*), SUM(succeeded::int), SUM((NOT succeeded)::int),
                SUM(duration_ms), {", ".join(buckets)}, now()
            FROM usage_requestlog
            GROUP BY user_id, server_id, (created_at AT TIME ZONE 'UTC')::date, source
            """
        )
        cursor.execute("VACUUM ANALYZE usage_requestlog")
        cursor.execute("VACUUM ANALYZE usage_usagedaily")


def deep_cursor(user: Any, depth: int, rows: int) -> str:
    """A cursor about DEPTH rows into USER's ROWS (spread evenly over DAYS days), found by
    time: an OFFSET that deep would walk millions of index entries to set the benchmark up."""
    from core.pagination import encode_cursor
    from usage.models import RequestLog

    moment = datetime.now(UTC) - timedelta(days=DAYS * depth / rows)
    row = (
        RequestLog.objects.filter(user=user, created_at__lte=moment)
        .order_by("-created_at", "-id")
        .values("created_at", "id")[0]
    )
    return encode_cursor([row["created_at"].isoformat(), str(row["id"])])


def days_ago(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def time_query(client: Any, url: str, iterations: int) -> tuple[list[float], int, Any]:
    from django.db import connection

    captured: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    for _ in range(10):
        client.get(url)
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
    return samples, len(response.json()["data"]), captured


def explain(queries: list[tuple[str, Any]], sql_samples: list[float]) -> list[str]:
    """The plans of the usage-app queries the request ran; a log page as the API runs it,
    a prepared statement with a generic plan (core.prepared), also timed alone (milliseconds
    per run into SQL_SAMPLES, the database round trip included)."""
    from django.db import connection

    lines: list[str] = []
    with connection.cursor() as cursor:
        for sql, params in queries:
            if "usage_requestlog" in sql:
                parts = sql.split("%s")
                numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
                arguments = ", ".join(["%s"] * (len(parts) - 1))
                execute = f"EXECUTE bench_page({arguments})" if arguments else "EXECUTE bench_page"
                cursor.execute("SET plan_cache_mode = force_generic_plan")
                cursor.execute(f"PREPARE bench_page AS {numbered}")
                cursor.execute(execute, params)  # plans it once, as the API's first call does
                for _ in range(SQL_RUNS):
                    started = time.perf_counter()
                    cursor.execute(execute, params)
                    cursor.fetchall()
                    sql_samples.append((time.perf_counter() - started) * 1000)
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {execute}", params)
                lines.extend(row[0] for row in cursor.fetchall())
                cursor.execute("DEALLOCATE bench_page")
            elif "usage_usagedaily" in sql:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                lines.extend(row[0] for row in cursor.fetchall())
    return lines


def plan_summary(plan: list[str]) -> str:
    """Indexes used (one name per index of the partitioned table), partitions read, time."""
    used = [line.split(" using ")[1].split()[0] for line in plan if " using " in line]
    indexes = sorted({re.sub(r"^usage_requestlog_p\d{8}_", "", name) for name in used})
    scans = "Seq Scan" if any("Seq Scan" in line for line in plan) else ""
    read = sum(1 for line in plan if " using " in line and "never executed" not in line)
    removed = sum(
        int(line.split(":")[1]) for line in plan if line.strip().startswith("Subplans Removed")
    )
    execution = next((line.split(": ")[1] for line in plan if "Execution Time" in line), "?")
    partitions = f"{read} of {len(used) + removed} partitions read"
    return ", ".join([*indexes, *([scans] if scans else []), partitions]) + f" ({execution})"


def call_path_costs(user: Any, tools: list[Any], redis_url: str, calls: int = 20_000) -> list[str]:
    """What recording and admission cost one tools/call, in this process."""
    import asyncio
    import uuid

    import redis
    from django.conf import settings

    from usage import limits
    from usage.recorder import Recorder
    from usage.writer import CallRecord

    tool = tools[0]
    now = datetime.now(UTC)

    def record(n: int) -> CallRecord:
        # A millisecond apart, as calls are: twenty thousand rows sharing one timestamp would
        # make later runs' time-range pages sort them.
        return CallRecord(
            user_id=user.pk, server_id=tool.server_id, server_name="Server 0", tool_id=tool.pk,
            tool_name="tool_0", source="mcp", method="GET", path="/things0/{id}",
            status_code=200, duration_ms=12, upstream_ms=10, request_bytes=20,
            response_bytes=300, error_code="", key_prefix="sgk_abcd", client_name="bench",
            created_at=now - timedelta(milliseconds=n), succeeded=True, id=uuid.uuid4(),
        )  # fmt: skip

    lines = []
    recorder = Recorder(interval=3600, batch_size=1000, max_buffer=calls + 1)
    records = [record(n) for n in range(calls)]
    started = time.perf_counter()
    for rec in records:
        recorder.record(rec)
    lines.append(f"recorder.record(): {(time.perf_counter() - started) / calls * 1e6:.2f} µs/call")
    started = time.perf_counter()
    recorder.flush()
    elapsed = time.perf_counter() - started
    lines.append(f"flush to PostgreSQL (logs + rollups): {calls / elapsed:,.0f} records/s")

    settings.PLAN_ENFORCEMENT = True
    settings.PLANS = {
        **settings.PLANS,
        "free": {**settings.PLANS["free"], "requests_per_minute": 10**9, "included_calls": 10**9},
    }

    async def admit_many(n: int) -> float:
        await limits.admit_mcp(user_id=user.pk, client_ip="192.0.2.1", public=True, tool_call=True)
        started = time.perf_counter()
        for _ in range(n):
            await limits.admit_mcp(
                user_id=user.pk, client_ip="192.0.2.1", public=True, tool_call=True
            )
        return (time.perf_counter() - started) / n * 1e6

    settings.REDIS_URL = ""
    lines.append(f"admit_mcp(), memory limiter: {asyncio.run(admit_many(calls)):.1f} µs/call")
    try:
        redis.Redis.from_url(redis_url).ping()
    except redis.RedisError:
        return lines
    settings.REDIS_URL = redis_url
    settings.RATE_LIMIT_KEY_PREFIX = f"sg:bench:{uuid.uuid4().hex}:"
    lines.append(f"admit_mcp(), Redis limiter: {asyncio.run(admit_many(5000)):.1f} µs/call")
    return lines


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


def bench_user(email: str, servers: int) -> tuple[Any, list[Any]]:
    """The user of EMAIL and their tools, made on the first run and found on later ones."""
    from accounts.models import User
    from tools.models import Tool

    user = User.objects.filter(email=email).first()
    if user is None:
        user = make_user(email)
        return user, make_servers(user, servers)
    return user, list(Tool.objects.filter(server__user=user).order_by("server__name", "name"))


def empty_days() -> list[int]:
    """Days back (0 = today) whose logs are missing: all of them in a fresh database."""
    from django.db import connection

    from usage import partitions

    missing = []
    with connection.cursor() as cursor:
        partitioned = partitions.is_partitioned(cursor)
        for days_ago in range(DAYS):
            start, _ = day_window(days_ago)
            if partitioned:
                name = partitions.partition_name(start.date())
                cursor.execute(f'SELECT EXISTS (SELECT FROM "{name}")')
            else:
                cursor.execute(
                    "SELECT EXISTS (SELECT FROM usage_requestlog "
                    "WHERE created_at >= %s AND created_at < %s)",
                    [start, start + timedelta(days=1)],
                )
            if not cursor.fetchone()[0]:
                missing.append(days_ago)
    return missing


def load(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """Alice's ROWS and the other users' OTHER_ROWS, a day at a time, for the missing days."""
    from django.db import connection

    alice, tools = bench_user("bench-alice@example.com", SERVERS)
    others = [bench_user(f"bench-other{n}@example.com", 2) for n in range(OTHER_USERS)]
    ensure_partitions()
    missing = empty_days()
    started = time.perf_counter()
    for n, days_ago in enumerate(missing):
        load_day(alice, tools, days_ago, args.rows // DAYS)
        for user, user_tools in others:
            load_day(user, user_tools, days_ago, args.other_rows // OTHER_USERS // DAYS)
        print(
            f"  day -{days_ago} loaded ({n + 1}/{len(missing)}, "
            f"{time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    if missing:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM usage_usagedaily")
        build_rollups()
    took = time.perf_counter() - started
    print(f"loaded {len(missing)} of {DAYS} days in {took:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_requestlog")
        print(f"request logs: {cursor.fetchone()[0]:,}")
    return alice, tools


def time_retention(days: int) -> None:
    """The retention job as beat runs it, dropping every day past DAYS."""
    from django.db import connection

    from usage import partitions
    from usage.services import logs_delete_expired

    cutoff = datetime.now(UTC) - timedelta(days=days)
    with connection.cursor() as cursor:
        expired = partitions.expired_days(cursor, cutoff=cutoff)
        older = 0
        for name in expired.values():
            cursor.execute(f'SELECT count(*) FROM "{name}"')
            older += cursor.fetchone()[0]
    detached_at: list[float] = []
    listing = partitions.detached_tables

    def mark(cursor: Any) -> list[str]:  # called right after the detach commits
        detached_at.append(time.perf_counter())
        return listing(cursor)

    partitions.detached_tables = mark
    started = time.perf_counter()
    result = logs_delete_expired(days=days)
    took = time.perf_counter() - started
    partitions.detached_tables = listing
    detach_ms = (detached_at[0] - started) * 1000 if detached_at else float("nan")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_requestlog")
        left = cursor.fetchone()[0]
    print(
        f"\nretention (LOG_RETENTION_DAYS={days}): dropped {result.partitions_dropped} of "
        f"{len(expired)} expired daily partitions holding {older:,} rows, deleted "
        f"{result.rows_deleted:,} rows one by one, in {took * 1000:.0f} ms (detached, so gone "
        f"from every query, after {detach_ms:.0f} ms; the rest is the DROP TABLEs unlinking "
        f"files); {left:,} rows left"
    )


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not (args.reuse and database_exists(args.db)):
        recreate_database(args.db)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts import local_issuer

    try:
        call_command("migrate", verbosity=0)
        if args.time_migration:
            call_command("migrate", "usage", "0004", verbosity=0)
        alice, tools = load(args)
        if args.time_migration:
            started = time.perf_counter()
            call_command("migrate", "usage", "0005", verbosity=0)
            took = time.perf_counter() - started
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*), count(DISTINCT tableoid) FROM usage_requestlog")
                moved, tables = cursor.fetchone()
            print(f"migration 0005: {moved:,} rows into {tables} daily partitions in {took:.1f} s")
            return
        if args.load_only:
            return
        if args.orm_plans:
            from core.pagination import CursorPagination
            from usage.views import LogPagination

            LogPagination.fetch = CursorPagination.fetch  # type: ignore[method-assign]

        token = local_issuer.mint_token(alice.email, lifetime_seconds=3600)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
        depth = args.rows * 9 // 10
        day = days_ago(45)
        cases = {
            "first page": "/api/logs",
            f"deep page (cursor at row {depth:,})": (
                f"/api/logs?cursor={deep_cursor(alice, depth, args.rows)}"
            ),
            "method=DELETE": "/api/logs?method=DELETE",
            "method=GET": "/api/logs?method=GET",
            "statusCode=500": "/api/logs?statusCode=500",
            "statusCode=418 (no match)": "/api/logs?statusCode=418",
            "source=test": "/api/logs?source=test",
            "serverId": f"/api/logs?serverId={tools[0].server_id}",
            "toolId": f"/api/logs?toolId={tools[7].pk}",
            "from/to (one day, 45 days ago)": f"/api/logs?from={day}T00:00:00Z&to={day}T23:59:59Z",
            "from (last hour)": "/api/logs?from="
            + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600)),
            "serverId + statusCode=500": f"/api/logs?serverId={tools[0].server_id}&statusCode=500",
            "usage (current period)": "/api/usage",
            "usage (from/to, 90 days)": f"/api/usage?from={days_ago(89)}&to={days_ago(0)}",
        }
        rows: list[tuple[str, float, float, str, int | str, str]] = []
        plans: list[str] = []
        for name, url in cases.items():
            samples, items, queries = time_query(client, url, args.iterations)
            sql_samples: list[float] = []
            plan = explain(queries, sql_samples)
            plans.extend([f"## {name}", url, *plan, ""])
            sql = (
                f"{statistics.median(sql_samples):.2f} / {percentile(sql_samples, 0.99):.2f}"
                if sql_samples
                else "-"
            )
            rows.append(
                (
                    name,
                    statistics.median(samples),
                    percentile(samples, 0.99),
                    sql,
                    items if url.startswith("/api/logs") else "-",
                    plan_summary(plan) if url.startswith("/api/logs") else "rollups",
                )
            )
        print(f"\n{args.iterations} requests per query, Django test client, full stack\n")
        print(
            "| query | p50 ms | p99 ms | log query alone p50 / p99 ms | items "
            "| indexes, partitions (SQL execution time) |"
        )
        print("|---|---|---|---|---|---|")
        for name, p50, p99, sql, shown, summary in rows:
            print(f"| {name} | {p50:.1f} | {p99:.1f} | {sql} | {shown} | {summary} |")
        print("\nCall path, one process (sequential):")
        for line in call_path_costs(alice, tools, args.redis_url):
            print(f"- {line}")
        if args.retention_days:
            time_retention(args.retention_days)
        if args.plans:
            args.plans.write_text("\n".join(plans))
            print(f"\nplans written to {args.plans}")
        else:
            print("\n" + "\n".join(plans))
    finally:
        from django.db import connections

        connections.close_all()
        if not (args.keep or args.reuse):
            drop_database(args.db)


if __name__ == "__main__":
    main()
