from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models

from core.models import TimestampedModel


class ToolTest(TimestampedModel):
    """One run of a tool from the dashboard (docs/api.md), kept for the user and for support.

    Everything stored here has had the server's secrets redacted by name and scrubbed by value.
    `created_at` is when it was queued; `started_at`/`finished_at` are the worker's.
    """

    STATUSES = [
        ("pending", "Pending"),
        ("succeeded", "Succeeded"),
        ("failed", "Failed"),
        ("error", "Error"),
    ]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tool_tests"
    )
    server = models.ForeignKey(
        "servers.Server", on_delete=models.CASCADE, related_name="tool_tests"
    )
    tool = models.ForeignKey("tools.Tool", on_delete=models.CASCADE, related_name="tests")
    server_name = models.CharField(max_length=200)
    tool_name = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=STATUSES, default="pending")
    result = models.JSONField(null=True, blank=True)
    request = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tool", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.tool_name} test {self.status} @ {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def timing(self) -> dict[str, int | None]:
        def ms(start: datetime | None, end: datetime | None) -> int | None:
            return int((end - start).total_seconds() * 1000) if start and end else None

        return {
            "queuedMs": ms(self.created_at, self.started_at),
            "upstreamMs": self.upstream_ms,
            "totalMs": ms(self.created_at, self.finished_at),
        }
