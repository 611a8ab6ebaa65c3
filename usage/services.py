"""Writes of the usage app besides the recorder: alerts and log retention."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import RequestLog, UsageAlert
from .selectors import PeriodStanding, period_standing
from .writer import CallRecord

logger = logging.getLogger(__name__)

_ALERT_CHECK_SECONDS = 5.0
_RETENTION_BATCH = 5000


def usage_alerts_record(*, user_id: Any, standing: PeriodStanding) -> list[UsageAlert]:
    """Record each 80%/100% threshold of quota or cap the period has crossed, once each.

    Returns the period's alerts, oldest first.
    """
    period_start = standing.plan.period_start
    alerts = list(
        UsageAlert.objects.filter(user_id=user_id, period_start=period_start).order_by("created_at")
    )
    recorded = {(alert.kind, alert.threshold) for alert in alerts}
    missing = [key for key in standing.thresholds_reached() if key not in recorded]
    if not missing:
        return alerts
    UsageAlert.objects.bulk_create(
        [
            UsageAlert(user_id=user_id, period_start=period_start, kind=kind, threshold=threshold)
            for kind, threshold in missing
        ],
        ignore_conflicts=True,
    )
    return list(
        UsageAlert.objects.filter(user_id=user_id, period_start=period_start).order_by(
            "created_at", "threshold"
        )
    )


class AlertWatcher:
    """Recorder listener: re-checks the thresholds of users who just made calls.

    At most once per user every few seconds; alerts are idempotent, so a skipped
    check only delays an alert until the next one (or the next `GET /api/usage`).
    """

    def __init__(self, every_seconds: float = _ALERT_CHECK_SECONDS) -> None:
        self.every_seconds = every_seconds
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, written: Sequence[CallRecord]) -> None:
        now = time.monotonic()
        due: list[Any] = []
        with self._lock:
            for user_id in {str(record.user_id) for record in written}:
                if now - self._checked.get(user_id, -self.every_seconds) >= self.every_seconds:
                    self._checked[user_id] = now
                    due.append(user_id)
        for user_id in due:
            usage_alerts_record(user_id=user_id, standing=period_standing(user_id))


def logs_delete_expired(*, days: int | None = None, batch: int = _RETENTION_BATCH) -> int:
    """Delete raw logs older than the retention period, in small batches; rollups stay."""
    days = days or settings.LOG_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            RequestLog.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            break
        count, _ = RequestLog.objects.filter(id__in=ids).delete()
        deleted += count
    if deleted:
        logger.info("Deleted %d request logs older than %d days", deleted, days)
    return deleted
