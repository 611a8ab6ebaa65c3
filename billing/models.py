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
