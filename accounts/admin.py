"""Personal API tokens in the admin, and the admin login's throttle.

The User admin (with its deactivate action) is in lifecycle/admin.py, beside the services it
runs.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .login_throttle import ThrottledAdminLoginForm
from .models import ApiToken

admin.site.login_form = ThrottledAdminLoginForm


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__email", "user__clerk_id"]
    fields = (
        "id",
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = services.api_tokens_revoke(tokens=queryset)
        self.message_user(request, f"{count} token(s) revoked", messages.SUCCESS)
