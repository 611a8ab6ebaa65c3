from django.contrib import admin

from .models import Spec, SpecOperation


class SpecOperationInline(admin.TabularInline):
    model = SpecOperation
    fields = ["position", "method", "path", "operation_id", "tool_name", "summary"]
    readonly_fields = ["position", "method", "path", "operation_id", "tool_name", "summary"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Spec)
class SpecAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "format", "operation_count", "revision", "user", "created_at"]
    list_filter = ["format"]
    search_fields = ["name", "title", "user__email", "sha256"]
    list_select_related = ["user"]
    readonly_fields = [
        "id",
        "user",
        "title",
        "version",
        "format",
        "source_url",
        "original_media_type",
        "sha256",
        "revision",
        "operation_count",
        "servers",
        "security_schemes",
        "warnings",
        "created_at",
        "updated_at",
    ]
    fields = ["name", "description", *readonly_fields]
    inlines = [SpecOperationInline]

    def get_queryset(self, request):
        # The original text and normalised document can weigh megabytes per row.
        return super().get_queryset(request).defer("original_text", "document")

    def has_add_permission(self, request):
        return False
