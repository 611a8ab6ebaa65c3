from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import WebhookEvent
from .services import webhook_events_reprocess


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = [
        "event_id",
        "provider",
        "type",
        "status",
        "attempts",
        "created_at",
        "processed_at",
    ]
    list_filter = ["provider", "status", "type"]
    search_fields = ["event_id", "type", "error"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Reprocess selected events")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = webhook_events_reprocess(event_pks=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} events queued for processing", messages.SUCCESS)
