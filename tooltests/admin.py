from django.contrib import admin
from django.http import HttpRequest

from .models import ToolTest


@admin.register(ToolTest)
class ToolTestAdmin(admin.ModelAdmin):
    """Read-only: what a user's tool test sent and received (secrets already redacted)."""

    list_display = [
        "tool_name",
        "server_name",
        "status",
        "status_code",
        "error_code",
        "upstream_ms",
        "user",
        "created_at",
    ]
    list_filter = ["status", "error_code", "created_at"]
    search_fields = ["tool_name", "server_name", "server__slug", "user__email", "error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = (
        "id",
        "user",
        "server",
        "tool",
        "server_name",
        "tool_name",
        "status",
        "arguments",
        "result",
        "request",
        "response",
        "status_code",
        "error_code",
        "error_message",
        "upstream_ms",
        "created_at",
        "started_at",
        "finished_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
