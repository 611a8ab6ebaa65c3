"""Reads of a user's plan: what it includes and the period it is counted over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from .models import BillingAccount

ACTIVE_STATUSES = {"active", "trialing", "past_due"}


@dataclass(frozen=True)
class PlanInfo:
    name: str
    included_calls: int
    overage_per_1000: Decimal | None
    requests_per_minute: int
    max_servers: int | None
    period_start: datetime
    period_end: datetime
    budget_cap: Decimal | None


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def plan_info(account: BillingAccount | None, *, now: datetime | None = None) -> PlanInfo:
    """The plan in force for an account (None: no billing account, the free plan)."""
    now = now or datetime.now(UTC)
    name = "free"
    start, end = month_bounds(now)
    if (
        account is not None
        and account.plan != "free"
        and account.subscription_status in ACTIVE_STATUSES
        and account.current_period_start is not None
        and account.current_period_end is not None
    ):
        name = account.plan
        start, end = account.current_period_start, account.current_period_end
    plan: dict[str, Any] = settings.PLANS[name]
    return PlanInfo(
        name=name,
        included_calls=int(plan["included_calls"]),
        overage_per_1000=plan["overage_per_1000"],
        requests_per_minute=int(plan["requests_per_minute"]),
        max_servers=plan["max_servers"],
        period_start=start,
        period_end=end,
        budget_cap=account.budget_cap if account is not None else None,
    )


def plan_for_user(*, user_id: Any, now: datetime | None = None) -> PlanInfo:
    return plan_info(BillingAccount.objects.filter(user_id=user_id).first(), now=now)


@dataclass(frozen=True)
class SubscriptionSummary:
    plan: str
    status: str | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool


def subscription_summary(*, user_id: Any) -> SubscriptionSummary:
    """The plan in force and its period (a calendar month on the free plan)."""
    account = BillingAccount.objects.filter(user_id=user_id).first()
    plan = plan_info(account)
    return SubscriptionSummary(
        plan=plan.name,
        status=(account.subscription_status or None) if account is not None else None,
        current_period_start=plan.period_start,
        current_period_end=plan.period_end,
        cancel_at_period_end=bool(account and account.cancel_at_period_end),
    )
