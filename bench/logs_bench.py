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
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVERS = 10
TOOLS_PER_SERVER = 5
OTHER_USERS = 4
DAYS = 90


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--other-rows", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--db", default="specgate_bench_logs")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--plans", type=Path, help="write the full EXPLAIN plans here")
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
    gen_random_uuid(), %(user)s::uuid,
    (%(servers)s::uuid[])[1 + t], 'Server ' || (t / {TOOLS_PER_SERVER}), (%(tools)s::uuid[])[1 + t],
    'tool_' || (t %% {TOOLS_PER_SERVER}),
    CASE WHEN r1 < 0.01 THEN 'test' ELSE 'mcp' END,
    (ARRAY['GET', 'GET', 'POST', 'PUT', 'DELETE'])[1 + t %% {TOOLS_PER_SERVER}],
    '/things' || (t %% {TOOLS_PER_SERVER}) || '/{{id}}',
    status, (r2 * 400)::int, (r2 * 380)::int, 200, (r1 * 5000)::int,
    CASE WHEN status IS NULL THEN 'UPSTREAM_TIMEOUT' ELSE '' END,
    'sgk_abcd', 'bench', status IS NOT NULL AND status < 400,
    now() - make_interval(secs => (i::float8 / %(rows)s) * {DAYS} * 86400)
FROM (
    SELECT i, ((i::bigint * 7919) %% %(tool_count)s)::int AS t, random() AS r1, random() AS r2,
        CASE
            WHEN i %% 1000 = 0 THEN 500
            WHEN i %% 997 = 0 THEN NULL
            WHEN i %% 50 = 0 THEN 404
            ELSE 200
        END AS status
    FROM generate_series(%(first)s::int, %(last)s::int) AS i
) AS g
"""


def load_logs(user: Any, tools: list[Any], rows: int) -> None:
    from django.db import connection

    chunk = 250_000
    with connection.cursor() as cursor:
        for start in range(0, rows, chunk):
            count = min(chunk, rows - start)
            cursor.execute(
                LOAD_SQL,
                {
                    "first": start + 1,
                    "last": start + count,
                    "user": str(user.pk),
                    "servers": [str(t.server_id) for t in tools],
                    "tools": [str(t.pk) for t in tools],
                    "rows": rows,
                    "tool_count": len(tools),
                },
            )


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


def deep_cursor(user: Any, depth: int) -> str:
    from core.pagination import encode_cursor
    from usage.models import RequestLog

    row = (
        RequestLog.objects.filter(user=user)
        .order_by("-created_at", "-id")
        .values("created_at", "id")[depth]
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


def explain(queries: list[tuple[str, Any]]) -> list[str]:
    """The plans of the usage-app queries the request ran."""
    from django.db import connection

    lines: list[str] = []
    with connection.cursor() as cursor:
        for sql, params in queries:
            if "usage_requestlog" in sql or "usage_usagedaily" in sql:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                lines.extend(row[0] for row in cursor.fetchall())
    return lines


def plan_summary(plan: list[str]) -> str:
    indexes = sorted({line.split(" using ")[1].split()[0] for line in plan if " using " in line})
    scans = "Seq Scan" if any("Seq Scan" in line for line in plan) else ""
    execution = next((line.split(": ")[1] for line in plan if "Execution Time" in line), "?")
    return ", ".join([*indexes, *([scans] if scans else [])]) + f" ({execution})"


def call_path_costs(user: Any, tools: list[Any], calls: int = 20_000) -> list[str]:
    """What recording and admission cost one tools/call, in this process."""
    import asyncio
    import uuid
    from datetime import UTC, datetime

    import redis
    from django.conf import settings

    from usage import limits
    from usage.recorder import Recorder
    from usage.writer import CallRecord

    tool = tools[0]
    now = datetime.now(UTC)

    def record() -> CallRecord:
        return CallRecord(
            user_id=user.pk, server_id=tool.server_id, server_name="Server 0", tool_id=tool.pk,
            tool_name="tool_0", source="mcp", method="GET", path="/things0/{id}",
            status_code=200, duration_ms=12, upstream_ms=10, request_bytes=20,
            response_bytes=300, error_code="", key_prefix="sgk_abcd", client_name="bench",
            created_at=now, succeeded=True, id=uuid.uuid4(),
        )  # fmt: skip

    lines = []
    recorder = Recorder(interval=3600, batch_size=1000, max_buffer=calls + 1)
    records = [record() for _ in range(calls)]
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
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.RedisError:
        return lines
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    settings.RATE_LIMIT_KEY_PREFIX = f"sg:bench:{uuid.uuid4().hex}:"
    lines.append(f"admit_mcp(), Redis limiter: {asyncio.run(admit_many(5000)):.1f} µs/call")
    return lines


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    recreate_database(args.db)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from accounts import local_issuer

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        alice = make_user("bench-alice@example.com")
        tools = make_servers(alice, SERVERS)
        load_logs(alice, tools, args.rows)
        for n in range(OTHER_USERS):
            other = make_user(f"bench-other{n}@example.com")
            load_logs(other, make_servers(other, 2), args.other_rows // OTHER_USERS)
        build_rollups()
        took = time.perf_counter() - started
        print(f"loaded {args.rows:,} + {args.other_rows:,} rows in {took:.0f} s")

        token = local_issuer.mint_token(alice.email, lifetime_seconds=3600)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
        depth = args.rows * 9 // 10
        day = days_ago(45)
        cases = {
            "first page": "/api/logs",
            f"deep page (cursor at row {depth:,})": f"/api/logs?cursor={deep_cursor(alice, depth)}",
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
        rows: list[tuple[str, float, float, int | str, str]] = []
        plans: list[str] = []
        for name, url in cases.items():
            samples, items, queries = time_query(client, url, args.iterations)
            plan = explain(queries)
            plans.extend([f"## {name}", url, *plan, ""])
            rows.append(
                (
                    name,
                    statistics.median(samples),
                    percentile(samples, 0.99),
                    items if url.startswith("/api/logs") else "-",
                    plan_summary(plan) if url.startswith("/api/logs") else "rollups",
                )
            )
        print(f"\n{args.iterations} requests per query, Django test client, full stack\n")
        print("| query | p50 ms | p99 ms | items | index used (SQL execution time) |")
        print("|---|---|---|---|---|")
        for name, p50, p99, shown, summary in rows:
            print(f"| {name} | {p50:.1f} | {p99:.1f} | {shown} | {summary} |")
        print("\nCall path, one process (sequential):")
        for line in call_path_costs(alice, tools):
            print(f"- {line}")
        if args.plans:
            args.plans.write_text("\n".join(plans))
            print(f"\nplans written to {args.plans}")
        else:
            print("\n" + "\n".join(plans))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.db)


if __name__ == "__main__":
    main()
