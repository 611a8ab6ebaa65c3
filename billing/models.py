from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import TimestampedModel


class BillingAccount(TimestampedModel):
    """A user's plan, Stripe customer and subscription state, and budget cap."""

    PLANS = [("free", "Free"), ("starter", "Starter"), ("pro", "Pro")]

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing"
    )
    plan = models.CharField(max_length=16, choices=PLANS, default="free")
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    subscription_status = models.CharField(max_length=32, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # The Stripe state this row reflects, to refuse an older event overwriting newer state.
    state_updated_at = models.DateTimeField(null=True, blank=True)
    budget_cap = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.plan})"


class MeterReport(TimestampedModel):
    """One overage report to Stripe's billing meter, recorded before it is sent.

    The row exists before the request does, so a run that dies between sending and
    recording re-sends the same identifier (Stripe counts an identifier once), and the
    unique (user, period, sequence) stops two concurrent runs billing the same calls twice.
    """

    STATUSES = [("pending", "Pending"), ("sent", "Sent")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meter_reports"
    )
    stripe_customer_id = models.CharField(max_length=255)
    period_start = models.DateTimeField()
    sequence = models.PositiveIntegerField()
    identifier = models.CharField(max_length=100, unique=True)
    calls = models.PositiveBigIntegerField()
    # The event time sent to Stripe, kept so a re-send is byte-for-byte the same request.
    event_timestamp = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=STATUSES, default="pending")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "period_start", "sequence"], name="meter_report_sequence"
            )
        ]

    def __str__(self) -> str:
        return self.identifier
