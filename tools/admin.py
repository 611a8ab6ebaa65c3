"""Tools in the admin: renames, descriptions and switches go through `tools.services`, with
the API's rules, so the gateway serves the change within seconds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import (
    ChosenObjectFilter,
    ObjectActionsMixin,
    admin_link,
    check_with_service,
    object_action,
)

from . import services
from .models import Tool

DESCRIPTION_MAX = 10_000


class ToolAdminForm(forms.ModelForm):
    class Meta:
        model = Tool
        fields = ["custom_name", "custom_description", "enabled"]

    def clean_custom_name(self) -> str | None:
        return self.cleaned_data["custom_name"] or None

    def clean_custom_description(self) -> str | None:
        # Left empty, the generated description is used again.
        description = self.cleaned_data["custom_description"] or None
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise forms.ValidationError(f"At most {DESCRIPTION_MAX} characters.")
        return description

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        name = cleaned.get("custom_name")
        if "custom_name" in self.changed_data and name is not None:
            check_with_service(
                self,
                lambda: services.tool_check_name(tool=self.instance, name=name),
                {"name": "custom_name"},
            )
        return cleaned


@admin.register(Tool)
class ToolAdmin(ObjectActionsMixin, admin.ModelAdmin):
    form = ToolAdminForm
    list_display = ["name", "server", "method", "path", "enabled", "custom_name", "created_at"]
    list_filter = [("server", ChosenObjectFilter), "enabled"]
    search_fields = ["name", "custom_name", "=server__slug"]
    list_select_related = ["server", "operation"]
    show_full_result_count = False
    readonly_fields = [
        "id",
        "server_link",
        "method",
        "path",
        "name",
        "generated_description",
        "created_at",
        "updated_at",
    ]
    fields = [
        "id",
        "server_link",
        "method",
        "path",
        "name",
        "generated_description",
        "custom_name",
        "custom_description",
        "enabled",
        "created_at",
        "updated_at",
    ]
    actions = ["disable", "enable"]
    object_actions = ["disable_one", "enable_one"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tool]:
        return super().get_queryset(request).select_related("server", "operation")

    @admin.display(description="Server")
    def server_link(self, obj: Tool) -> str:
        return admin_link(obj.server)

    @admin.display(description="Method", ordering="operation__method")
    def method(self, obj: Tool) -> str:
        return obj.operation.method

    @admin.display(description="Path", ordering="operation__path")
    def path(self, obj: Tool) -> str:
        return obj.operation.path

    @admin.display(description="Generated description (used when the custom one is empty)")
    def generated_description(self, obj: Tool) -> str:
        return obj.operation.tool_description

    @object_action(label="Disable", when=lambda tool: tool.enabled)
    def disable_one(self, request: HttpRequest, obj: Tool) -> None:
        self._set_enabled(request, Tool.objects.filter(pk=obj.pk), enabled=False)

    @object_action(label="Enable", when=lambda tool: not tool.enabled)
    def enable_one(self, request: HttpRequest, obj: Tool) -> None:
        self._set_enabled(request, Tool.objects.filter(pk=obj.pk), enabled=True)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Tool, form: Any, change: bool) -> None:
        changed = set(form.changed_data)
        if not changed:
            return
        overrides: dict[str, Any] = {}
        if "enabled" in changed:
            overrides["enabled"] = form.cleaned_data["enabled"]
        if "custom_name" in changed:
            overrides["name"] = form.cleaned_data["custom_name"]
        if "custom_description" in changed:
            overrides["description"] = form.cleaned_data["custom_description"]
        tool = Tool.objects.select_related("server").get(pk=obj.pk)
        services.tool_update(tool=tool, **overrides)

    def delete_model(self, request: HttpRequest, obj: Tool) -> None:
        services.tools_delete(tools=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tool]) -> None:
        services.tools_delete(tools=queryset.select_related("server"))

    @admin.action(description="Disable selected tools")
    def disable(self, request: HttpRequest, queryset: QuerySet[Tool]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    @admin.action(description="Enable selected tools")
    def enable(self, request: HttpRequest, queryset: QuerySet[Tool]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    def _set_enabled(
        self, request: HttpRequest, queryset: QuerySet[Tool], *, enabled: bool
    ) -> None:
        changed = 0
        for tool in queryset.exclude(enabled=enabled).select_related("server"):
            services.tool_update(tool=tool, enabled=enabled)
            changed += 1
        state = "enabled" if enabled else "disabled"
        self.message_user(request, f"{changed} tool(s) {state}", messages.SUCCESS)
