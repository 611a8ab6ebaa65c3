"""Periodic jobs of the usage app (schedule in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from .services import logs_delete_expired


@shared_task(name="usage.delete_expired_logs", ignore_result=True)
def delete_expired_logs() -> int:
    """Drop raw request logs older than LOG_RETENTION_DAYS (the rollups keep usage)."""
    return logs_delete_expired()
