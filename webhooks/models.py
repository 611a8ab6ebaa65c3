from __future__ import annotations

from django.db import models

from core.models import TimestampedModel


class WebhookEvent(TimestampedModel):
    """A provider's webhook delivery, stored once per event id before it is processed."""

    PROVIDERS = [("stripe", "Stripe"), ("clerk", "Clerk")]
    STATUSES = [
        ("received", "Received"),
        ("processing", "Processing"),
        ("processed", "Processed"),
        ("failed", "Failed"),
        ("ignored", "Ignored"),
    ]

    provider = models.CharField(max_length=16, choices=PROVIDERS)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=STATUSES, default="received")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_unique")
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="webhook_event_pending")]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
