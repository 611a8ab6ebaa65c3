"""Servers and access keys in the admin. Every write goes through `servers.services`, so the
gateway hears about it as it does for the API: a revoked key or a disabled server stops
working within seconds. Revoking is final, so revocation is an action, never an edit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import (
    ChosenObjectFilter,
    ObjectActionsMixin,
    admin_link,
    check_with_service,
    object_action,
)

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
    show_change_link = True
    verbose_name_plural = "Access keys (revoke one from its page)"

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


TOOLS_SHOWN = 200


@admin.register(Server)
class ServerAdmin(ObjectActionsMixin, admin.ModelAdmin):
    form = ServerAdminForm
    list_display = ["slug", "name", "owner", "status", "visibility", "tool_mode", "created_at"]
    list_filter = ["status", "visibility", "tool_mode", ("user", ChosenObjectFilter)]
    search_fields = ["=slug", "name", "user__email"]
    list_select_related = ["user"]
    show_full_result_count = False
    readonly_fields = [
        "id",
        "owner",
        "spec_link",
        "mcp_url",
        "links",
        "tools_table",
        "credentials_table",
        "config_version",
        "created_at",
        "updated_at",
    ]
    fields = [
        "id",
        "owner",
        "spec_link",
        "mcp_url",
        "links",
        "name",
        "slug",
        "description",
        "base_url",
        "status",
        "visibility",
        "tool_mode",
        "tools_table",
        "credentials_table",
        "config_version",
        "created_at",
        "updated_at",
    ]
    inlines = [AccessKeyInline]
    actions = ["disable", "enable"]
    object_actions = ["disable_one", "enable_one"]

    @admin.display(description="Owner", ordering="user__email")
    def owner(self, obj: Server) -> str:
        return admin_link(obj.user)

    @admin.display(description="Spec")
    def spec_link(self, obj: Server) -> str:
        return admin_link(obj.spec)

    @admin.display(description="MCP URL")
    def mcp_url(self, obj: Server) -> str:
        return f"{settings.PUBLIC_BASE_URL}/mcp/{obj.slug}"

    @admin.display(description="See also")
    def links(self, obj: Server) -> str:
        logs = reverse("admin:usage_requestlog_changelist") + f"?server__id__exact={obj.pk}"
        tools = reverse("admin:tools_tool_changelist") + f"?server__id__exact={obj.pk}"
        tests = reverse("admin:tooltests_tooltest_changelist") + f"?server__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">Request logs</a> · <a href="{}">Tools</a> · <a href="{}">Tool tests</a>',
            logs,
            tools,
            tests,
        )

    @admin.display(description="Tools")
    def tools_table(self, obj: Server) -> str:
        tools = list(obj.tools.select_related("operation").order_by("name")[: TOOLS_SHOWN + 1])
        if not tools:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_link(tool),
                    tool.operation.method,
                    tool.operation.path,
                    "enabled" if tool.enabled else "disabled",
                )
                for tool in tools[:TOOLS_SHOWN]
            ),
        )
        more = f"(first {TOOLS_SHOWN} shown)" if len(tools) > TOOLS_SHOWN else ""
        return format_html(
            '<table class="specgate-table"><tr><th>Tool</th><th>Method</th><th>Path</th>'
            "<th>State</th></tr>{}</table>{}",
            rows,
            more,
        )

    @admin.display(description="Credentials")
    def credentials_table(self, obj: Server) -> str:
        # Metadata only (the credentials app sits above this one: read through the relation).
        credentials = list(obj.credentials.order_by("created_at"))
        if not credentials:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (admin_link(credential), credential.get_type_display(), credential.injected_at)
                for credential in credentials
            ),
        )
        return format_html(
            '<table class="specgate-table"><tr><th>Credential</th><th>Type</th>'
            "<th>Injected as</th></tr>{}</table>",
            rows,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Server, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes:
            # The form already put the new values on OBJ; the service starts from the stored row.
            services.server_update(server=Server.objects.get(pk=obj.pk), **changes)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Keys are never deleted on their own (revoked instead), but go with their server.
        perms_needed.discard(AccessKey._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Server) -> None:
        services.server_delete(server=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            services.server_delete(server=server)

    @admin.action(description="Disable selected servers")
    def disable(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        self._set_status(request, queryset, "disabled")

    @object_action(label="Disable", when=lambda server: server.status == "active")
    def disable_one(self, request: HttpRequest, obj: Server) -> None:
        self._set_status(request, Server.objects.filter(pk=obj.pk), "disabled")

    @object_action(label="Enable", when=lambda server: server.status != "active")
    def enable_one(self, request: HttpRequest, obj: Server) -> None:
        self._set_status(request, Server.objects.filter(pk=obj.pk), "active")

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
class AccessKeyAdmin(ShowsAllowlist, ObjectActionsMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "server",
        "scope",
        "owner",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [
        ("revoked_at", admin.EmptyFieldListFilter),
        "scope",
        ("server__user", ChosenObjectFilter),
        ("server", ChosenObjectFilter),
    ]
    search_fields = ["name", "=prefix", "=server__slug", "server__user__email"]
    list_select_related = ["server__user"]
    show_full_result_count = False
    raw_id_fields = ["server"]
    fields = (
        "id",
        "server",
        "owner",
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
    object_actions = ["revoke_one"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoked, never deleted: the record of who had access stays.
        return False

    @admin.display(description="Owner", ordering="server__user__email")
    def owner(self, obj: AccessKey) -> str:
        return admin_link(obj.server.user)

    @admin.action(description="Revoke selected access keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessKey]) -> None:
        keys = list(queryset.select_related("server"))
        count = services.access_keys_revoke(keys=keys)
        skipped = len(keys) - count
        note = f" ({skipped} already revoked)" if skipped else ""
        self.message_user(request, f"{count} access key(s) revoked{note}", messages.SUCCESS)

    @object_action(
        label="Revoke",
        confirm="Revoke this access key? MCP calls with it are refused within seconds; "
        "this cannot be undone.",
        when=lambda key: key.revoked_at is None,
    )
    def revoke_one(self, request: HttpRequest, obj: AccessKey) -> None:
        services.access_keys_revoke(keys=[obj])
        self.message_user(request, f"Access key {obj} revoked.", messages.SUCCESS)
