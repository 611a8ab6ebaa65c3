"""Server time of every admin page at 1,000,000 request logs, on PostgreSQL.

Loads the logs benchmark's data (bench/logs_bench.py: one user with 1,000,000 request logs
over 90 days, four others with 200,000 between them, daily rollups), adds what the admin
shows besides logs (access keys, API tokens, credentials, tool tests, webhook events, billing
accounts), signs an operator in and times each admin page through the full Django stack
(test client: session, CSRF, admin views, templates). Prints p50/p99 per page. Drops the
database at the end unless --keep; --reuse times a database kept by an earlier run (after
migrating it) instead of loading it again.

    .venv/bin/python bench/admin_bench.py [--rows 1000000] [--other-rows 200000]
        [--iterations 20] [--db specgate_admin_bench] [--keep] [--reuse]
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

from bench import logs_bench  # noqa: E402

TARGET_MS = 300


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--other-rows", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--db", default="specgate_admin_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time a kept database")
    return parser.parse_args()


def load(rows: int, other_rows: int) -> None:
    from django.utils import timezone

    from accounts.services import api_token_create
    from billing.models import BillingAccount
    from servers.models import Server
    from servers.services import access_key_create
    from tooltests.models import ToolTest
    from webhooks.models import WebhookEvent

    started = time.perf_counter()
    alice = logs_bench.make_user("bench-alice@example.com")
    tools = logs_bench.make_servers(alice, logs_bench.SERVERS)
    logs_bench.load_logs(alice, tools, rows)
    users = [alice]
    for n in range(logs_bench.OTHER_USERS):
        other = logs_bench.make_user(f"bench-other{n}@example.com")
        users.append(other)
        logs_bench.load_logs(other, logs_bench.make_servers(other, 2), other_rows // 4)
    logs_bench.build_rollups()
    for n, user in enumerate(users):
        BillingAccount.objects.create(
            user=user,
            plan="pro" if n == 0 else "free",
            stripe_customer_id=f"cus_bench{n}",
            current_period_start=timezone.now().replace(day=1),
        )
        api_token_create(user=user, name=f"token {n}", expires_at=None)
    for server in Server.objects.all():
        for k in range(3):
            access_key_create(server=server, name=f"key {k}")
    now = timezone.now()
    ToolTest.objects.bulk_create(
        ToolTest(
            user=alice,
            server_id=tool.server_id,
            tool=tool,
            server_name="Server",
            tool_name=tool.name,
            status="failed" if i % 3 == 0 else "succeeded",
            status_code=502 if i % 3 == 0 else 200,
            error_code="UPSTREAM_ERROR" if i % 3 == 0 else "",
            request={"method": "GET", "url": "https://api.example.com/things/1"},
            response={"status": 200, "body": "{}"},
            started_at=now,
            finished_at=now,
        )
        for i in range(2000)
        for tool in tools[i % len(tools) : i % len(tools) + 1]
    )
    WebhookEvent.objects.bulk_create(
        WebhookEvent(
            provider="stripe" if i % 2 else "clerk",
            event_id=f"evt_bench_{i}",
            type="customer.subscription.updated" if i % 2 else "user.updated",
            payload={"id": f"evt_bench_{i}"},
            status="failed" if i % 10 == 0 else "processed",
            attempts=1,
        )
        for i in range(5000)
    )
    print(
        f"loaded {rows:,} + {other_rows:,} log rows and the rest in "
        f"{time.perf_counter() - started:.0f} s"
    )


def ensure_credentials() -> None:
    """An upstream credential on each of the first user's servers (once)."""
    from accounts.models import User
    from credentials.models import Credential
    from credentials.services import Placement, credential_create
    from servers.models import Server

    alice = User.objects.get(email="bench-alice@example.com")
    for server in Server.objects.filter(user=alice).exclude(credentials__isnull=False):
        credential_create(
            user=alice,
            server_id=server.pk,
            type="apiKey",
            secret={"value": f"bench-upstream-key-{server.slug}"},
            placement=Placement(location="header", param_name="X-Api-Key"),
        )
    assert Credential.objects.filter(server__user=alice).exists()


def operator() -> Any:
    from accounts.models import User

    user = User.objects.filter(email="bench-operator@example.com").first()
    if user is None:
        user = User.objects.create_superuser(
            email="bench-operator@example.com", password="bench-operator-password"
        )
    return user


def pages() -> dict[str, str]:
    from accounts.models import ApiToken, User
    from billing.models import BillingAccount
    from credentials.models import Credential
    from servers.models import AccessKey, Server
    from tools.models import Tool
    from tooltests.models import ToolTest
    from usage.models import RequestLog, UsageDaily
    from webhooks.models import WebhookEvent

    alice = User.objects.get(email="bench-alice@example.com")
    server = Server.objects.filter(user=alice).order_by("created_at").first()
    assert server is not None
    log = RequestLog.objects.filter(user=alice).order_by("-created_at").first()
    assert log is not None
    day = logs_bench.days_ago(45)
    cases = {
        "index": "/admin/",
        "users": "/admin/accounts/user/",
        "users, search email": "/admin/accounts/user/?q=bench-alice",
        "user page (1M logs)": f"/admin/accounts/user/{alice.pk}/change/",
        "user delete (1M logs: refused)": f"/admin/accounts/user/{alice.pk}/delete/",
        "request logs": "/admin/usage/requestlog/",
        "request logs, one user": f"/admin/usage/requestlog/?user__id__exact={alice.pk}",
        "request logs, one server": f"/admin/usage/requestlog/?server__id__exact={server.pk}",
        "request logs, status 5xx": "/admin/usage/requestlog/?status=5xx",
        "request logs, failed": "/admin/usage/requestlog/?succeeded__exact=0",
        "request logs, source=test": "/admin/usage/requestlog/?source__exact=test",
        "request logs, one user, method=DELETE": (
            f"/admin/usage/requestlog/?user__id__exact={alice.pk}&method=DELETE"
        ),
        "request logs, one user, method=PATCH (no match)": (
            f"/admin/usage/requestlog/?user__id__exact={alice.pk}&method=PATCH"
        ),
        "request logs, one user, 5xx": (
            f"/admin/usage/requestlog/?user__id__exact={alice.pk}&status=5xx"
        ),
        "request logs, last 7 days": (
            f"/admin/usage/requestlog/?created_at__gte={logs_bench.days_ago(7)}+00:00:00%2B00:00"
        ),
        "request logs, one day 45 days ago": (
            f"/admin/usage/requestlog/?created_at__gte={day}+00:00:00%2B00:00&created_at__lt={day}+23:59:59%2B00:00"
        ),
        "request logs, no response": "/admin/usage/requestlog/?status=none",
        "request logs, 4xx": "/admin/usage/requestlog/?status=4xx",
        "request logs, page 20 (the last)": "/admin/usage/requestlog/?p=20",
        "request log page": f"/admin/usage/requestlog/{log.pk}/change/",
        "usage rollups": "/admin/usage/usagedaily/",
        "usage rollups, one user": f"/admin/usage/usagedaily/?user__id__exact={alice.pk}",
        "usage rollup page": (
            f"/admin/usage/usagedaily/{UsageDaily.objects.filter(user=alice).first().pk}/change/"  # type: ignore[union-attr]
        ),
        "servers": "/admin/servers/server/",
        "server page": f"/admin/servers/server/{server.pk}/change/",
        "server delete confirmation": f"/admin/servers/server/{server.pk}/delete/",
        "access keys": "/admin/servers/accesskey/",
        "access key page": f"/admin/servers/accesskey/{AccessKey.objects.first().pk}/change/",  # type: ignore[union-attr]
        "tools": "/admin/tools/tool/",
        "tools, one server": f"/admin/tools/tool/?server__id__exact={server.pk}",
        "tool page": f"/admin/tools/tool/{Tool.objects.first().pk}/change/",  # type: ignore[union-attr]
        "API tokens": "/admin/accounts/apitoken/",
        "API token page": f"/admin/accounts/apitoken/{ApiToken.objects.first().pk}/change/",  # type: ignore[union-attr]
        "credentials": "/admin/credentials/credential/",
        "tool tests": "/admin/tooltests/tooltest/",
        "tool tests, failed": "/admin/tooltests/tooltest/?status__exact=failed",
        "tool test page": f"/admin/tooltests/tooltest/{ToolTest.objects.first().pk}/change/",  # type: ignore[union-attr]
        "webhook events": "/admin/webhooks/webhookevent/",
        "webhook events, failed": "/admin/webhooks/webhookevent/?status__exact=failed",
        "webhook event page": (
            f"/admin/webhooks/webhookevent/{WebhookEvent.objects.first().pk}/change/"  # type: ignore[union-attr]
        ),
        "billing accounts": "/admin/billing/billingaccount/",
        "billing account page": (
            f"/admin/billing/billingaccount/{BillingAccount.objects.get(user=alice).pk}/change/"
        ),
        "specs": "/admin/specs/spec/",
    }
    credential = Credential.objects.first()
    if credential is not None:
        cases["credential page"] = f"/admin/credentials/credential/{credential.pk}/change/"
    return cases


def time_page(client: Any, url: str, iterations: int) -> tuple[list[float], list[float], int]:
    """Server time per request, the database's share of it, and the queries per request."""
    from django.db import connection

    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    for _ in range(2):
        client.get(url)
    sql: list[float] = []

    def timed(execute: Any, query: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql.append((time.perf_counter() - started) * 1000)

    samples, sql_samples, queries = [], [], 0
    with connection.execute_wrapper(timed):
        for _ in range(iterations):
            sql.clear()
            started = time.perf_counter()
            client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            sql_samples.append(sum(sql))
            queries = len(sql)
    return samples, sql_samples, queries


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not args.reuse:
        logs_bench.recreate_database(args.db)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    try:
        call_command("migrate", verbosity=0)
        if not args.reuse:
            load(args.rows, args.other_rows)
        ensure_credentials()
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(operator())
        results = []
        for name, url in pages().items():
            samples, sql, queries = time_page(client, url, args.iterations)
            results.append(
                (
                    name,
                    statistics.median(samples),
                    logs_bench.percentile(samples, 0.99),
                    statistics.median(sql),
                    max(sql),
                    queries,
                )
            )
        print(f"\n{args.iterations} requests per page, Django test client, full stack\n")
        print("| admin page | p50 ms | p99 ms | SQL p50 ms | SQL max ms | queries |")
        print("|---|---|---|---|---|---|")
        for name, p50, p99, sql_p50, sql_max, queries in results:
            flag = "" if p50 < TARGET_MS else " (over target)"
            print(
                f"| {name} | {p50:.1f}{flag} | {p99:.1f} | {sql_p50:.1f} | {sql_max:.1f} "
                f"| {queries} |"
            )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            logs_bench.drop_database(args.db)


if __name__ == "__main__":
    main()
