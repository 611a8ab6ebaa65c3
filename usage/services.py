"""Writes of the usage app besides the recorder: alerts, log retention and log partitions."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from . import partitions
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


def log_partitions_create_ahead(*, days_ahead: int | None = None) -> list[date]:
    """PostgreSQL: create the daily request-log partitions of today and the days ahead.

    Idempotent; a no-op on SQLite. Returns the days created.
    """
    if connection.vendor != "postgresql":
        return []
    days_ahead = settings.LOG_PARTITIONS_AHEAD_DAYS if days_ahead is None else days_ahead
    first = partitions.today()
    created = partitions.create_days([first + timedelta(days=n) for n in range(days_ahead + 1)])
    if created:
        logger.info("Created request-log partitions for %s", ", ".join(map(str, created)))
    return created


@dataclass(frozen=True)
class ExpiredLogs:
    partitions_dropped: int = 0
    rows_deleted: int = 0


def logs_delete_expired(*, days: int | None = None, batch: int = _RETENTION_BATCH) -> ExpiredLogs:
    """Remove raw logs older than the retention period; the rollups keep usage.

    PostgreSQL: whole daily partitions whose day ended before the cutoff are detached and
    dropped (no row-by-row delete, no vacuum debt), so a log is kept for the retention
    period and at most one day more. SQLite: the rows are deleted, in batches.
    """
    days = days or settings.LOG_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            partitioned = partitions.is_partitioned(cursor)
        if partitioned:
            return ExpiredLogs(partitions_dropped=len(_drop_expired_partitions(cutoff)))
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
    return ExpiredLogs(rows_deleted=deleted)


def _drop_expired_partitions(cutoff: datetime) -> list[str]:
    """Detach every partition past CUTOFF in one transaction, then drop them one by one.

    The detach is a catalog change under an ACCESS EXCLUSIVE lock on the table: short, and
    from its commit on the expired days are gone from every query. Dropping a table unlinks
    its files (heap, a dozen indexes) when its transaction commits, which takes the file
    system's time; done after the detach, it holds no lock anyone else needs. Queued behind
    a long query the detach would hold up every query behind it, so it gives up after
    LOCK_TIMEOUT and the next run (hourly) tries again; a table detached but not dropped
    (the job stopped between the two) is dropped by the next run.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'")
            expired = partitions.expired_days(cursor, cutoff=cutoff)
            for day in sorted(expired):
                partitions.detach_partition(cursor, expired[day])
    except OperationalError:
        logger.warning("The request-log table is busy; expired partitions are dropped next time")
        return []
    with connection.cursor() as cursor:
        detached = partitions.detached_tables(cursor)
    for name in detached:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE "{name}"')
    dropped = [expired[day] for day in sorted(expired)]
    if dropped:
        logger.info(
            "Dropped %d expired request-log partitions: %s", len(dropped), ", ".join(dropped)
        )
    return dropped
