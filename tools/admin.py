from django.contrib import admin

from .models import Tool


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ["name", "server", "enabled", "custom_name", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "custom_name", "server__slug"]
    list_select_related = ["server"]
    readonly_fields = ["id", "server", "operation", "name", "created_at", "updated_at"]
    fields = [
        "id",
        "server",
        "operation",
        "name",
        "custom_name",
        "custom_description",
        "enabled",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False
