from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

CENT = Decimal("0.01")


class CheckoutRequestSerializer(serializers.Serializer):
    planId = serializers.ChoiceField(choices=["starter", "pro"])


class CheckoutSessionSerializer(serializers.Serializer):
    url = serializers.URLField()
    sessionId = serializers.CharField(source="session_id")


class PortalSessionSerializer(serializers.Serializer):
    url = serializers.URLField()


class SubscriptionSerializer(serializers.Serializer):
    plan = serializers.ChoiceField(choices=["free", "starter", "pro"])
    status = serializers.CharField(
        allow_null=True, help_text="Stripe subscription status; null without a subscription"
    )
    currentPeriodStart = serializers.DateTimeField(source="current_period_start")
    currentPeriodEnd = serializers.DateTimeField(source="current_period_end")
    cancelAtPeriodEnd = serializers.BooleanField(source="cancel_at_period_end")


@extend_schema_field(
    {
        "type": "number",
        "nullable": True,
        "minimum": 0,
        "maximum": 10000,
        "multipleOf": 0.01,
        "description": "EUR, at most 2 decimal places; null means no cap",
    }
)
class BudgetCapField(serializers.Field):
    """A JSON number of EUR (not a string, not a boolean), 0 to BUDGET_CAP_MAX, cents at most."""

    default_error_messages = {
        "type": "Must be a number or null.",
        "range": "Must be between 0 and {maximum} inclusive.",
        "places": "Must have at most 2 decimal places.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("type")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("type")
        value = Decimal(str(data))
        if not 0 <= value <= settings.BUDGET_CAP_MAX:
            self.fail("range", maximum=settings.BUDGET_CAP_MAX)
        if value != value.quantize(CENT):
            self.fail("places")
        return value.quantize(CENT)

    def to_representation(self, value: Decimal) -> float:
        return float(value)


class BudgetCapUpdateSerializer(serializers.Serializer):
    budgetCap = BudgetCapField()


class BudgetCapSerializer(serializers.Serializer):
    budgetCap = serializers.FloatField(allow_null=True, help_text="EUR; null means no cap")
    currency = serializers.ChoiceField(choices=["EUR"])
