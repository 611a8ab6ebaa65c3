from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import TimestampedModel

from .histogram import BUCKET_FIELDS
from .ids import uuid7

# The hundreds digit of a log's HTTP status (NULL without a response), as indexed.
STATUS_CLASS = F("status_code") / 100


class RequestLog(models.Model):
    """One upstream call made for an MCP tools/call or a tool test (docs/api.md, usage and logs).

    Indexes: every `GET /api/logs` filter has an index that yields rows already in
    page order (newest first), so a page reads about `limit` index entries at any
    depth. Server and tool ids belong to one user, so their indexes need no user
    column (the view checks ownership first); they also serve the SET_NULL update
    when a server or tool is deleted. `created_at` alone serves time ranges across users
    (the admin) and retention on SQLite.

    On PostgreSQL the table is partitioned by UTC day of `created_at` (usage/partitions.py),
    with the primary key (id, created_at) in the database, as PostgreSQL requires of a
    partitioned table; Django keeps `id` as the primary key (UUID v7: unique in practice).

    Foreign keys without database constraints: this is the one table written on every call,
    and a constraint check per row and key costs more than the row itself. The writer checks
    the references itself in the INSERT (rows of a deleted user are dropped, a deleted server
    or tool becomes NULL), and Django still cascades or nulls on delete.
    Ids are time-ordered (UUID v7, made when the call happens), so the primary key grows at
    its right edge.
    """

    SOURCES = [("mcp", "MCP"), ("test", "Tool test")]

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="request_logs",
        db_index=False,
        db_constraint=False,
    )
    server = models.ForeignKey(
        "servers.Server",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    server_name = models.CharField(max_length=200)
    tool = models.ForeignKey(
        "tools.Tool",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    tool_name = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=SOURCES)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    upstream_ms = models.PositiveIntegerField(null=True, blank=True)
    request_bytes = models.PositiveIntegerField(default=0)
    response_bytes = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    key_prefix = models.CharField(max_length=16, blank=True)
    client_name = models.CharField(max_length=200, blank=True)
    caller_email = models.CharField(max_length=254, blank=True, default="", db_default="")
    """Who called with an OAuth access token (the grant's user), for the server's owner to
    see (the consent page says so); blank for a call with an access key or without any."""
    succeeded = models.BooleanField(default=True)
    created_at = models.DateTimeField(db_index=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="log_user_newest"),
            models.Index(
                fields=["user", "status_code", "-created_at", "-id"], name="log_user_status_newest"
            ),
            models.Index(
                fields=["user", "method", "-created_at", "-id"], name="log_user_method_newest"
            ),
            models.Index(
                fields=["user", "source", "-created_at", "-id"], name="log_user_source_newest"
            ),
            models.Index(fields=["server", "-created_at", "-id"], name="log_server_newest"),
            models.Index(fields=["tool", "-created_at", "-id"], name="log_tool_newest"),
            models.Index(fields=["created_at"], name="log_created"),
            # The admin's filters across all users: failures and tool tests are a few per
            # cent of calls, so these partial indexes stay small and cheap to write.
            models.Index(
                fields=["-created_at"], condition=Q(succeeded=False), name="log_failed_newest"
            ),
            models.Index(
                fields=["-created_at"], condition=Q(source="test"), name="log_test_newest"
            ),
            # Failed calls by status class (4 and 5: 4xx and 5xx; NULL: no response).
            models.Index(
                STATUS_CLASS,
                F("created_at").desc(),
                condition=Q(succeeded=False),
                name="log_failed_class_newest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.status_code} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class UsageDaily(models.Model):
    """Tool calls per user, server, UTC day and source, kept current by the recorder.

    `server_uuid` is the server's id as it was when called (not a foreign key), so
    the row keeps its identity and name after the server is deleted. Latency is a
    fixed-bucket histogram of `duration_ms` so percentiles come from rollups.
    Rows are only ever incremented with INSERT ... ON CONFLICT DO UPDATE.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    server_uuid = models.UUIDField()
    server_name = models.CharField(max_length=200)
    day = models.DateField()
    source = models.CharField(max_length=8, choices=RequestLog.SOURCES)
    calls = models.PositiveBigIntegerField(default=0)
    succeeded = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    duration_ms_total = models.PositiveBigIntegerField(default=0)
    lat_le_5 = models.PositiveBigIntegerField(default=0)
    lat_le_10 = models.PositiveBigIntegerField(default=0)
    lat_le_25 = models.PositiveBigIntegerField(default=0)
    lat_le_50 = models.PositiveBigIntegerField(default=0)
    lat_le_75 = models.PositiveBigIntegerField(default=0)
    lat_le_100 = models.PositiveBigIntegerField(default=0)
    lat_le_150 = models.PositiveBigIntegerField(default=0)
    lat_le_200 = models.PositiveBigIntegerField(default=0)
    lat_le_300 = models.PositiveBigIntegerField(default=0)
    lat_le_500 = models.PositiveBigIntegerField(default=0)
    lat_le_750 = models.PositiveBigIntegerField(default=0)
    lat_le_1000 = models.PositiveBigIntegerField(default=0)
    lat_le_2000 = models.PositiveBigIntegerField(default=0)
    lat_le_5000 = models.PositiveBigIntegerField(default=0)
    lat_le_10000 = models.PositiveBigIntegerField(default=0)
    lat_le_30000 = models.PositiveBigIntegerField(default=0)
    lat_over_30000 = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "server_name"]
        verbose_name = "daily usage"
        verbose_name_plural = "daily usage"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "server_uuid", "day", "source"], name="usage_daily_key"
            ),
        ]
        indexes = [models.Index(fields=["user", "day"], name="usage_user_day")]

    def __str__(self) -> str:
        return f"{self.server_name} {self.day} {self.source}: {self.calls}"

    def histogram(self) -> list[int]:
        return [int(getattr(self, name)) for name in BUCKET_FIELDS]


class UsageAlert(TimestampedModel):
    """A user's usage crossed a threshold of the quota or the budget cap in a period."""

    KINDS = [("quota", "Included calls"), ("budget_cap", "Budget cap")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    period_start = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=KINDS)
    threshold = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "period_start", "kind", "threshold"], name="usage_alert_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.threshold}% ({self.period_start:%Y-%m-%d})"
