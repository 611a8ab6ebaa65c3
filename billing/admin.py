"""Billing accounts and meter reports in the admin.

Plan and subscription state mirror Stripe (change them there); the budget cap is the one
field an operator sets, through `billing.services.budget_cap_set` with the API's range.
Nothing a Stripe subscription or an invoice depends on can be deleted here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.admin import admin_link, check_with_service

from . import services
from .models import BillingAccount, MeterReport


class BillingAccountForm(forms.ModelForm):
    class Meta:
        model = BillingAccount
        fields = ["budget_cap"]
        help_texts = {"budget_cap": "EUR, 0 to 10,000, at most 2 decimal places; empty: no cap."}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "budget_cap" in cleaned:
            check_with_service(
                self,
                lambda: services.budget_cap_check(cleaned["budget_cap"]),
                {"budgetCap": "budget_cap"},
            )
        return cleaned


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    form = BillingAccountForm
    list_display = [
        "user",
        "plan",
        "subscription_status",
        "current_period_end",
        "cancel_at_period_end",
        "budget_cap",
        "stripe_customer_id",
    ]
    list_filter = ["plan", "subscription_status", "cancel_at_period_end"]
    search_fields = ["user__email", "=stripe_customer_id", "=stripe_subscription_id"]
    list_select_related = ["user"]
    show_full_result_count = False
    readonly_fields = [
        "id",
        "user_link",
        "plan",
        "stripe_customer_id",
        "stripe_subscription_id",
        "subscription_status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "state_updated_at",
        "created_at",
        "updated_at",
    ]
    fields = [readonly_fields[0], readonly_fields[1], "budget_cap", *readonly_fields[2:]]

    @admin.display(description="User")
    def user_link(self, obj: BillingAccount) -> str:
        return admin_link(obj.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: BillingAccount, form: Any, change: bool
    ) -> None:
        if "budget_cap" in form.changed_data:
            services.budget_cap_set(user=obj.user, budget_cap=form.cleaned_data["budget_cap"])


@admin.register(MeterReport)
class MeterReportAdmin(admin.ModelAdmin):
    list_display = [
        "identifier",
        "user",
        "calls",
        "status",
        "period_start",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status"]
    search_fields = ["=identifier", "user__email", "=stripe_customer_id"]
    list_select_related = ["user"]
    show_full_result_count = False
    readonly_fields = [f.name for f in MeterReport._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # What was billed in Stripe: the identifier is what makes a re-send count once.
        return False
