"""Periodic jobs of the usage app (schedule in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import metering
from .services import log_partitions_create_ahead, logs_delete_expired


@shared_task(name="usage.delete_expired_logs", ignore_result=True)
def delete_expired_logs() -> dict[str, int]:
    """Drop raw request logs older than LOG_RETENTION_DAYS (the rollups keep usage): whole
    daily partitions on PostgreSQL, rows on SQLite."""
    return asdict(logs_delete_expired())


@shared_task(name="usage.create_log_partitions", ignore_result=True)
def create_log_partitions() -> int:
    """PostgreSQL: keep LOG_PARTITIONS_AHEAD_DAYS daily request-log partitions ready."""
    return len(log_partitions_create_ahead())


# Registered under its name from when metering lived in billing: the beat schedule and any
# message queued before a deploy name it so.
@shared_task(name="billing.tasks.report_overage", ignore_result=True)
def report_overage() -> int:
    """Beat: report every paid user's new overage calls to Stripe's billing meter."""
    return metering.overage_report_all()
