"""Reads of request logs and usage; usage always comes from the daily rollups.

Periods and days: rollups are per UTC day, and a day belongs to the billing
period in which it starts (00:00 UTC). Free-plan periods are calendar months, so
they match exactly; a paid period that starts mid-day (its Stripe anchor) counts
from the next full day. Every call is thus counted in exactly one period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Max, QuerySet, Sum

from accounts.models import User
from billing.selectors import PlanInfo, plan_for_user
from servers.models import Server
from tools.models import Tool

from .histogram import BUCKET_FIELDS, percentile
from .models import RequestLog, UsageAlert, UsageDaily

CENT = Decimal("0.01")
ALERT_THRESHOLDS = (80, 100)


def first_day_of(moment: datetime) -> date:
    """The first whole UTC day at or after MOMENT."""
    moment = moment.astimezone(UTC)
    day = moment.date()
    return day if moment.time() == time(0) else day + timedelta(days=1)


def period_days(start: datetime, end: datetime) -> tuple[date, date]:
    """First and last day (inclusive) counted in the period [start, end)."""
    return first_day_of(start), first_day_of(end) - timedelta(days=1)


def period_call_count(user_id: Any, start: datetime, end: datetime) -> int:
    """Tool calls (MCP and tests) counted in a period: a sum over ≤ 31 rows per server."""
    first, last = period_days(start, end)
    total = UsageDaily.objects.filter(user_id=user_id, day__gte=first, day__lte=last).aggregate(
        calls=Sum("calls")
    )["calls"]
    return int(total or 0)


def overage_cost(overage_calls: int, per_1000: Decimal | None) -> Decimal:
    """EUR for calls past the included amount, rounded to the cent."""
    if per_1000 is None or overage_calls <= 0:
        return Decimal("0.00")
    return (Decimal(overage_calls) * per_1000 / 1000).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PeriodStanding:
    """Where a user stands against the plan in the current period."""

    plan: PlanInfo
    calls: int

    @property
    def overage_calls(self) -> int:
        return max(0, self.calls - self.plan.included_calls)

    @property
    def overage_cost(self) -> Decimal:
        return overage_cost(self.overage_calls, self.plan.overage_per_1000)

    @property
    def quota_fraction(self) -> float | None:
        included = self.plan.included_calls
        return round(self.calls / included, 4) if included else None

    @property
    def budget_fraction(self) -> float | None:
        cap = self.plan.budget_cap
        if cap is None or self.plan.overage_per_1000 is None:
            return None
        if cap == 0:
            return 1.0 if self.calls >= self.plan.included_calls else 0.0
        return round(float(self.overage_cost / Decimal(cap)), 4)

    def thresholds_reached(self) -> list[tuple[str, int]]:
        reached: list[tuple[str, int]] = []
        for kind, fraction in (
            ("quota", self.quota_fraction),
            ("budget_cap", self.budget_fraction),
        ):
            if fraction is None:
                continue
            reached.extend((kind, t) for t in ALERT_THRESHOLDS if fraction * 100 >= t)
        return reached


def period_standing(user_id: Any, *, now: datetime | None = None) -> PeriodStanding:
    plan = plan_for_user(user_id=user_id, now=now)
    return PeriodStanding(plan, period_call_count(user_id, plan.period_start, plan.period_end))


# --- Logs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilters:
    method: str | None = None
    status_code: int | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    server_id: Any = None
    tool_id: Any = None
    source: str | None = None


def logs_for_user(*, user: User, filters: LogFilters) -> QuerySet[RequestLog]:
    """The user's logs matching FILTERS (ordering and paging are the paginator's).

    A server or tool filter that is not the user's matches nothing; checking that
    first keeps another user's busy server from costing this query anything.
    """
    logs = RequestLog.objects.filter(user=user)
    if filters.server_id is not None:
        if not Server.objects.filter(id=filters.server_id, user=user).exists():
            return logs.none()
        logs = logs.filter(server_id=filters.server_id)
    if filters.tool_id is not None:
        if not Tool.objects.filter(id=filters.tool_id, server__user=user).exists():
            return logs.none()
        logs = logs.filter(tool_id=filters.tool_id)
    if filters.method is not None:
        logs = logs.filter(method=filters.method)
    if filters.status_code is not None:
        logs = logs.filter(status_code=filters.status_code)
    if filters.source is not None:
        logs = logs.filter(source=filters.source)
    if filters.created_from is not None:
        logs = logs.filter(created_at__gte=filters.created_from)
    if filters.created_before is not None:
        logs = logs.filter(created_at__lt=filters.created_before)
    return logs


# --- Usage ---------------------------------------------------------------------------------


@dataclass
class Tally:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    duration_ms_total: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))

    def add(self, row: Mapping[str, Any]) -> None:
        """Add a row of sums; latency columns are optional (per-day rows leave them out)."""
        self.total += row["calls"]
        self.succeeded += row["succeeded"]
        self.failed += row["failed"]
        if "duration_ms_total" in row:
            self.duration_ms_total += row["duration_ms_total"]
            for index, name in enumerate(BUCKET_FIELDS):
                self.histogram[index] += row[name]

    @property
    def average_ms(self) -> float | None:
        return round(self.duration_ms_total / self.total, 1) if self.total else None

    @property
    def p95_ms(self) -> int | None:
        return percentile(self.histogram, 0.95)


@dataclass
class ServerUsage:
    server_id: str | None
    server_name: str
    tally: Tally


@dataclass
class UsageReport:
    first_day: date
    last_day: date
    standing: PeriodStanding
    tally: Tally
    servers: list[ServerUsage]
    days: list[tuple[date, Tally]]
    alerts: list[UsageAlert]


_SUMS = ("calls", "succeeded", "failed", "duration_ms_total", *BUCKET_FIELDS)


def usage_report(
    *,
    user: User,
    standing: PeriodStanding,
    alerts: list[UsageAlert],
    first_day: date | None = None,
    last_day: date | None = None,
) -> UsageReport:
    """Totals, latency and breakdowns over whole UTC days (default: the current period).

    Two grouped queries over the user's rollup rows of those days (per server,
    per day); the database sums, Python only reshapes.
    """
    period_first, period_last = period_days(standing.plan.period_start, standing.plan.period_end)
    first_day = first_day or period_first
    last_day = last_day or period_last
    rows = UsageDaily.objects.filter(user=user, day__gte=first_day, day__lte=last_day)
    sums = {name: Sum(name) for name in _SUMS}
    total = Tally()
    servers: list[ServerUsage] = []
    for row in rows.values("server_uuid").annotate(name=Max("server_name"), **sums):
        tally = Tally()
        tally.add(row)
        total.add(row)
        servers.append(ServerUsage(str(row["server_uuid"]), row["name"], tally))
    live = {
        str(pk)
        for pk in Server.objects.filter(
            user=user, id__in=[s.server_id for s in servers]
        ).values_list("id", flat=True)
    }
    for entry in servers:
        entry.server_id = entry.server_id if entry.server_id in live else None
    per_day: dict[date, Tally] = defaultdict(Tally)
    counts = {name: Sum(name) for name in ("calls", "succeeded", "failed")}
    for day_row in rows.values("day").annotate(**counts):
        per_day[day_row["day"]].add(day_row)
    days = [
        (day, per_day.get(day) or Tally())
        for day in (first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1))
    ]
    return UsageReport(
        first_day=first_day,
        last_day=last_day,
        standing=standing,
        tally=total,
        servers=sorted(servers, key=lambda s: (-s.tally.total, s.server_name)),
        days=days,
        alerts=alerts,
    )
