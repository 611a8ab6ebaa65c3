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


class WebhookAttempt(models.Model):
    """One run of an event's handler: when, why (first delivery, automatic retry, operator),
    and how it ended. An event's history; never edited."""

    TRIGGERS = [("delivery", "Delivery"), ("retry", "Automatic retry"), ("operator", "Operator")]

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="history")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=TRIGGERS)
    status = models.CharField(max_length=16, choices=WebhookEvent.STATUSES)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["event", "number"]
        indexes = [models.Index(fields=["event", "number"], name="webhook_attempt_event")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status}"
