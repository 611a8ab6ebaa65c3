from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.scrub import scrubber_for
from credentials.injection import stored_secrets

from .models import ToolTest


@admin.register(ToolTest)
class ToolTestAdmin(admin.ModelAdmin):
    """Read-only: what a user's tool test sent and received.

    Stored tests were scrubbed when they ran; the page scrubs them again with the server's
    credentials as they are now, so a record stored before a scrubbing fix, or before a secret
    was added, shows no secret either.
    """

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

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        test = super().get_object(request, object_id, from_field)
        if test is not None:
            # Only ever shown: the admin cannot change a test, so nothing here is saved.
            scrubber = scrubber_for(stored_secrets(str(test.server_id)))
            test.arguments = scrubber.scrub_json(test.arguments)
            test.result = scrubber.scrub_json(test.result)
            test.request = scrubber.scrub_json(test.request)
            test.response = scrubber.scrub_json(test.response)
            test.error_message = scrubber.scrub(test.error_message)
        return test

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
