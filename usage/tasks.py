"""Periodic jobs of the usage app (schedule in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from . import metering
from .services import logs_delete_expired


@shared_task(name="usage.delete_expired_logs", ignore_result=True)
def delete_expired_logs() -> int:
    """Drop raw request logs older than LOG_RETENTION_DAYS (the rollups keep usage)."""
    return logs_delete_expired()


# Registered under its name from when metering lived in billing: the beat schedule and any
# message queued before a deploy name it so.
@shared_task(name="billing.tasks.report_overage", ignore_result=True)
def report_overage() -> int:
    """Beat: report every paid user's new overage calls to Stripe's billing meter."""
    return metering.overage_report_all()
