"""Servers and access keys in the admin. Every write goes through `servers.services`, so the
gateway hears about it as it does for the API: a revoked key or a disabled server stops
working within seconds. Revoking is final, so revocation is an action, never an edit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import check_with_service

from . import services
from .models import AccessKey, Server


class ShowsAllowlist:
    @admin.display(description="Tool allowlist")
    def allowlist(self, key: AccessKey) -> str:
        """The tools the key is limited to, by current name; every tool when it has no list."""
        if not key.restricts_tools:
            return "every tool"
        return ", ".join(sorted(tool.name for tool in key.tools.all())) or "no tool"


class AccessKeyInline(ShowsAllowlist, admin.TabularInline):
    model = AccessKey
    fields = ("name", "prefix", "scope", "allowlist", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServerAdminForm(forms.ModelForm):
    # Checked by the service as the API checks it, not by a URL field's own rules.
    base_url = forms.CharField(max_length=2000)

    class Meta:
        model = Server
        fields = ["name", "slug", "description", "base_url", "status", "visibility", "tool_mode"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is not None and not self.errors:
            changes = {name: cleaned[name] for name in self.changed_data if name in cleaned}
            check_with_service(
                self,
                lambda: services.server_check_update(server=self.instance, changes=changes),
                {"baseUrl": "base_url"},
            )
        return cleaned


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    form = ServerAdminForm
    list_display = ["slug", "name", "user", "status", "visibility", "tool_mode", "created_at"]
    list_filter = ["status", "visibility", "tool_mode"]
    search_fields = ["slug", "name", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["id", "user", "spec", "config_version", "created_at", "updated_at"]
    fields = [
        "id",
        "user",
        "spec",
        "name",
        "slug",
        "description",
        "base_url",
        "status",
        "visibility",
        "tool_mode",
        "config_version",
        "created_at",
        "updated_at",
    ]
    inlines = [AccessKeyInline]
    actions = ["disable", "enable"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Server, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes:
            # The form already put the new values on OBJ; the service starts from the stored row.
            services.server_update(server=Server.objects.get(pk=obj.pk), **changes)

    def delete_model(self, request: HttpRequest, obj: Server) -> None:
        services.server_delete(server=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            services.server_delete(server=server)

    @admin.action(description="Disable selected servers")
    def disable(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        self._set_status(request, queryset, "disabled")

    @admin.action(description="Enable selected servers")
    def enable(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        self._set_status(request, queryset, "active")

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Server], status: str) -> None:
        changed = 0
        for server in queryset.exclude(status=status):
            services.server_update(server=server, status=status)
            changed += 1
        self.message_user(request, f"{changed} server(s) now {status}", messages.SUCCESS)


@admin.register(AccessKey)
class AccessKeyAdmin(ShowsAllowlist, admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "server",
        "scope",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at", "scope", "restricts_tools"]
    search_fields = ["name", "prefix", "server__slug", "server__user__email"]
    list_select_related = ["server"]
    fields = (
        "id",
        "server",
        "name",
        "prefix",
        "scope",
        "allowlist",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: AccessKey) -> None:
        services.access_keys_delete(keys=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessKey]) -> None:
        services.access_keys_delete(keys=queryset.select_related("server"))

    @admin.action(description="Revoke selected access keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessKey]) -> None:
        count = services.access_keys_revoke(keys=queryset.select_related("server"))
        self.message_user(request, f"{count} access key(s) revoked", messages.SUCCESS)
