from django.contrib import admin

from . import services
from .models import BillingAccount, MeterReport


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
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
    search_fields = [
        "user__email",
        "user__clerk_id",
        "stripe_customer_id",
        "stripe_subscription_id",
    ]
    list_select_related = ["user"]
    # Plan and subscription state mirror Stripe; change them in Stripe, not here.
    readonly_fields = [
        "id",
        "user",
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

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
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
    search_fields = ["identifier", "user__email", "stripe_customer_id"]
    list_select_related = ["user"]
    readonly_fields = [f.name for f in MeterReport._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
