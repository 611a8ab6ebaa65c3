"""Reporting each paid user's overage calls to Stripe as Billing Meter events.

A report is a MeterReport row written (pending) before the meter event is sent and
marked sent after. Its identifier is (user, period start, sequence): a run that dies
between sending and recording leaves the row pending, and the next run sends the very
same identifier and parameters, which Stripe counts once. The row lock on the billing
account plus the unique (user, period, sequence) make two concurrent runs agree on one
sequence for the same calls.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from billing.models import BillingAccount, MeterReport
from billing.selectors import ACTIVE_STATUSES, PlanInfo, plan_info
from billing.services import idempotency_key
from billing.stripe_client import stripe_client

from .selectors import period_call_count

logger = logging.getLogger(__name__)


def meter_identifier(*, user_id: Any, period_start: datetime, sequence: int) -> str:
    return f"sg-{user_id}-{int(period_start.timestamp())}-{sequence}"


def metered_accounts() -> QuerySet[BillingAccount]:
    return BillingAccount.objects.filter(
        plan__in=["starter", "pro"], subscription_status__in=ACTIVE_STATUSES
    ).exclude(stripe_customer_id="")


def overage_report_all(*, now: datetime | None = None) -> int:
    """Report every paid user's new overage; returns how many meter events were sent."""
    import stripe  # on first use: a web worker never reports overage

    sent = 0
    for user_id in metered_accounts().values_list("user_id", flat=True):
        try:
            sent += overage_report(user_id=user_id, now=now)
        except stripe.StripeError as exc:
            # The pending row stays; the next run sends the same identifier again.
            logger.warning("Overage report for user %s failed: %s", user_id, type(exc).__name__)
    return sent


def overage_report(*, user_id: Any, now: datetime | None = None) -> int:
    """Send the user's unsent reports and a new one for calls not yet reported."""
    now = now or timezone.now()
    account = metered_accounts().filter(user_id=user_id).first()
    if account is None:
        return 0
    plan = plan_info(account, now=now)
    if plan.overage_per_1000 is None:
        return 0
    pending = list(
        MeterReport.objects.filter(user_id=user_id, status="pending").order_by("sequence")
    )
    for report in pending:
        meter_report_send(report=report)
    new_report = _next_report(account=account, plan=plan, now=now)
    if new_report is not None:
        meter_report_send(report=new_report)
    return len(pending) + (new_report is not None)


def _next_report(*, account: BillingAccount, plan: PlanInfo, now: datetime) -> MeterReport | None:
    calls = period_call_count(user_id=account.user_id, start=plan.period_start, end=plan.period_end)
    overage = max(0, calls - plan.included_calls)
    if overage == 0:
        return None
    # Stripe bills an event into the period its timestamp falls in.
    event_time = min(now, plan.period_end - timedelta(seconds=1))
    try:
        with transaction.atomic():
            BillingAccount.objects.select_for_update().filter(pk=account.pk).first()
            reports = MeterReport.objects.filter(
                user_id=account.user_id, period_start=plan.period_start
            )
            if reports.filter(status="pending").exists():
                # Another run recorded a report and is sending it now.
                return None
            totals = reports.aggregate(reported=Sum("calls"), last=Max("sequence"))
            new_calls = overage - (totals["reported"] or 0)
            if new_calls <= 0:
                return None
            sequence = (totals["last"] or 0) + 1
            return MeterReport.objects.create(
                user_id=account.user_id,
                stripe_customer_id=account.stripe_customer_id,
                period_start=plan.period_start,
                sequence=sequence,
                identifier=meter_identifier(
                    user_id=account.user_id, period_start=plan.period_start, sequence=sequence
                ),
                calls=new_calls,
                event_timestamp=int(event_time.timestamp()),
            )
    except IntegrityError:
        return None


def meter_report_send(*, report: MeterReport) -> None:
    """Send one recorded report; sending it again is harmless (same identifier and key)."""
    stripe_client().v1.billing.meter_events.create(
        params={
            "event_name": settings.STRIPE_METER_EVENT_NAME,
            "payload": {
                "stripe_customer_id": report.stripe_customer_id,
                "value": str(report.calls),
            },
            "identifier": report.identifier,
            "timestamp": report.event_timestamp,
        },
        options={"idempotency_key": idempotency_key("meter", report.identifier)},
    )
    MeterReport.objects.filter(pk=report.pk, status="pending").update(
        status="sent", sent_at=timezone.now(), updated_at=timezone.now()
    )
