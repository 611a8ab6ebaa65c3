"""Webhook events in the admin: what arrived, every attempt at handling it, and a re-run.

A re-run (the list action or the button on an event's page) runs the handler now, in the
request, through `webhooks.services.webhook_event_rerun`, and says what happened: processed,
or failed again with the error. The attempt counter keeps counting and each run is added to
the event's history. Processed events are not re-run (their handler already did its work).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from core.admin import ObjectActionsMixin, object_action

from .models import WebhookAttempt, WebhookEvent
from .services import RERUNNABLE, webhook_event_rerun

RERUN_MAX = 20


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "trigger", "status", "started_at", "finished_at", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Attempts (history)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ObjectActionsMixin, admin.ModelAdmin):
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
    search_fields = ["=event_id", "type"]
    show_full_result_count = False
    fields = (
        "id",
        "provider",
        "event_id",
        "type",
        "status",
        "attempts",
        "error",
        "created_at",
        "updated_at",
        "processed_at",
        "pretty_payload",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["rerun"]
    object_actions = ["rerun_one"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The record of what a provider told us (and of a subscription's changes) stays.
        return False

    def has_object_action_permission(self, request: HttpRequest, obj: Any) -> bool:
        return self.has_view_permission(request, obj) and request.user.is_superuser

    @admin.display(description="Payload")
    def pretty_payload(self, obj: WebhookEvent) -> str:
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<div class="specgate-readable"><pre>{}</pre></div>', text)

    @admin.action(description="Re-run selected events (failed, received or ignored)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        pks = list(queryset.order_by("created_at").values_list("pk", flat=True)[: RERUN_MAX + 1])
        if len(pks) > RERUN_MAX:
            self.message_user(
                request,
                f"Select at most {RERUN_MAX} events: each one runs now, in this request.",
                messages.ERROR,
            )
            return
        for pk in pks:
            self._report(request, webhook_event_rerun(event_pk=pk))

    @object_action(
        label="Re-run",
        confirm="Run this event's handler again now?",
        when=lambda event: event.status in RERUNNABLE,
    )
    def rerun_one(self, request: HttpRequest, obj: WebhookEvent) -> None:
        self._report(request, webhook_event_rerun(event_pk=obj.pk))

    def _report(self, request: HttpRequest, outcome: Any) -> None:
        if not outcome.ran:
            level = messages.WARNING
        elif outcome.status == "failed":
            level = messages.ERROR
        else:
            level = messages.SUCCESS
        self.message_user(request, outcome.message, level)
