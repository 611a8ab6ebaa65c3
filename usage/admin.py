from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import RequestLog, UsageAlert, UsageDaily


class ReadOnlyAdmin(admin.ModelAdmin):
    """Operators read usage; only the recorder writes it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "server_name",
        "tool_name",
        "source",
        "method",
        "path",
        "status_code",
        "duration_ms",
        "error_code",
    ]
    list_filter = [
        "source",
        "method",
        "status_code",
        "succeeded",
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = [
        "user__email",
        "user__clerk_id",
        "server_name",
        "tool_name",
        "=server__id",
        "key_prefix",
    ]
    list_select_related = ["user"]
    raw_id_fields = ["user", "server", "tool"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ["-created_at", "-id"]


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyAdmin):
    list_display = ["day", "user", "server_name", "source", "calls", "succeeded", "failed"]
    list_filter = ["source", ("day", admin.DateFieldListFilter)]
    search_fields = ["user__email", "user__clerk_id", "server_name", "=server_uuid"]
    list_select_related = ["user"]
    date_hierarchy = "day"


@admin.register(UsageAlert)
class UsageAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "threshold", "period_start"]
    list_filter = ["kind", "threshold"]
    search_fields = ["user__email", "user__clerk_id"]
    list_select_related = ["user"]
