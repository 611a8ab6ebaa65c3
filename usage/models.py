from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class RequestLog(models.Model):
    """One upstream call made for an MCP tools/call or a tool test (CONTRACT §8)."""

    SOURCES = [("mcp", "MCP"), ("test", "Tool test")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="request_logs"
    )
    server = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    server_name = models.CharField(max_length=200)
    tool = models.ForeignKey(
        "tools.Tool", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
    created_at = models.DateTimeField(db_index=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="log_user_newest")]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.status_code} @ {self.created_at:%Y-%m-%d %H:%M:%S}"
