"""The admin site's look, its sign-in, and personal API tokens.

Operators sign in with their email address (accounts.backends); the login form counts
failures (accounts.login_throttle). The User admin (with its deactivate action) is in
lifecycle/admin.py, beside the services it runs.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ChosenObjectFilter, ObjectActionsMixin, admin_link, object_action

from . import services
from .login_throttle import ThrottledAdminLoginForm
from .models import ApiToken

admin.site.login_form = ThrottledAdminLoginForm
admin.site.site_header = "Specgate"
admin.site.site_title = "Specgate admin"
admin.site.index_title = "Operations"
# There is no public site behind this host to "view" (the product is the API and /mcp).
admin.site.site_url = None
# The app list is on the index page; without the sidebar a request log row fits 1440 px.
admin.site.enable_nav_sidebar = False


@admin.register(ApiToken)
class ApiTokenAdmin(ObjectActionsMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "owner",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("user", ChosenObjectFilter)]
    search_fields = ["name", "=prefix", "user__email"]
    list_select_related = ["user"]
    show_full_result_count = False
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
    object_actions = ["revoke_one"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Revoked, never deleted: the record of who had access stays.
        return False

    @admin.display(description="Owner", ordering="user__email")
    def owner(self, obj: ApiToken) -> str:
        return admin_link(obj.user)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = services.api_tokens_revoke(tokens=queryset)
        skipped = queryset.count() - count
        note = f" ({skipped} already revoked)" if skipped > 0 else ""
        self.message_user(request, f"{count} token(s) revoked{note}", messages.SUCCESS)

    @object_action(
        label="Revoke",
        confirm="Revoke this token? It stops working at once; this cannot be undone.",
        when=lambda token: token.revoked_at is None,
    )
    def revoke_one(self, request: HttpRequest, obj: ApiToken) -> None:
        services.api_tokens_revoke(tokens=ApiToken.objects.filter(pk=obj.pk))
        self.message_user(request, f"Token {obj} revoked.", messages.SUCCESS)
